/**
 * Kubernetes Namespace → Profile `kns.<ns>` and Pod → WorkloadEndpoint, as Calico's Kubernetes
 * integration converts them (libcalico-go `k8s/conversion`: `NamespaceToProfile`,
 * `podToDefaultWorkloadEndpoint`).
 */
import { API_VERSION, type FieldIssue, type Resource } from '../resource.ts';
import { formatCidr, formatIp, parseCidr, parseCidrOrIp } from '../../net/mod.ts';
import { vethNameForPod, workloadEndpointName } from './names.ts';
import type { KubernetesNamespace, KubernetesPod, KubernetesServiceAccount } from './schemas.ts';

export const NAMESPACE_PROFILE_PREFIX = 'kns.';
export const SERVICE_ACCOUNT_PROFILE_PREFIX = 'ksa.';
export const NAMESPACE_LABEL_PREFIX = 'pcns.';
export const SERVICE_ACCOUNT_LABEL_PREFIX = 'pcsa.';
export const NAME_LABEL = 'projectcalico.org/name';
export const LABEL_NAMESPACE = 'projectcalico.org/namespace';
export const LABEL_SERVICE_ACCOUNT = 'projectcalico.org/serviceaccount';
export const LABEL_ORCHESTRATOR = 'projectcalico.org/orchestrator';
export const ORCHESTRATOR_KUBERNETES = 'k8s';

export const ANNOTATION_POD_IP = 'cni.projectcalico.org/podIP';
export const ANNOTATION_POD_IPS = 'cni.projectcalico.org/podIPs';
export const ANNOTATION_AWS_POD_IPS = 'vpc.amazonaws.com/pod-ips';
export const ANNOTATION_CONTAINER_ID = 'cni.projectcalico.org/containerID';
export const ANNOTATION_FLOATING_IPS = 'cni.projectcalico.org/floatingIPs';
export const ANNOTATION_ALLOWED_SOURCE_PREFIXES = 'cni.projectcalico.org/allowedSourcePrefixes';

/** A problem found while converting; carries the field path in the Kubernetes object. */
export class ConversionIssues extends Error {
  readonly issues: FieldIssue[];

  constructor(issues: FieldIssue[]) {
    super(issues.map((i) => `${i.path}: ${i.message}`).join('; '));
    this.issues = issues;
  }
}

function copyMeta(meta: { uid?: string | undefined; creationTimestamp?: string | null | undefined }, into: Resource['metadata']): void {
  if (meta.uid) into.uid = meta.uid;
  if (meta.creationTimestamp) into.creationTimestamp = meta.creationTimestamp;
}

/** The Profile name of a namespace: `kns.<ns>`. */
export function namespaceProfileName(namespace: string): string {
  return `${NAMESPACE_PROFILE_PREFIX}${namespace}`;
}

/** The Profile name of a service account: `ksa.<ns>.<sa>` (namespace `default` when empty). */
export function serviceAccountProfileName(namespace: string, serviceAccount: string): string {
  return `${SERVICE_ACCOUNT_PROFILE_PREFIX}${namespace || 'default'}.${serviceAccount}`;
}

/** Namespace → Profile `kns.<ns>`: allow all both ways, apply the namespace labels as `pcns.*`. */
export function namespaceToProfile(ns: KubernetesNamespace): Resource {
  const labelsToApply: Record<string, string> = {};
  // The Kubernetes API server gives every Namespace this label; manifests applied in etcd mode
  // never went through it, so it is added here for namespaceSelectors that rely on it.
  const labels = { 'kubernetes.io/metadata.name': ns.metadata.name, ...(ns.metadata.labels ?? {}) };
  for (const [k, v] of Object.entries(labels)) labelsToApply[`${NAMESPACE_LABEL_PREFIX}${k}`] = v;
  labelsToApply[`${NAMESPACE_LABEL_PREFIX}${NAME_LABEL}`] = ns.metadata.name;
  const metadata: Resource['metadata'] = { name: namespaceProfileName(ns.metadata.name) };
  copyMeta(ns.metadata, metadata);
  return {
    apiVersion: API_VERSION,
    kind: 'Profile',
    metadata,
    spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }], labelsToApply },
  };
}

/**
 * ServiceAccount → Profile `ksa.<ns>.<sa>`: no rules, the service account's labels applied as
 * `pcsa.*` plus `pcsa.projectcalico.org/name`.
 */
export function serviceAccountToProfile(sa: KubernetesServiceAccount): Resource {
  const labelsToApply: Record<string, string> = {};
  for (const [k, v] of Object.entries(sa.metadata.labels ?? {})) labelsToApply[`${SERVICE_ACCOUNT_LABEL_PREFIX}${k}`] = v;
  labelsToApply[`${SERVICE_ACCOUNT_LABEL_PREFIX}${NAME_LABEL}`] = sa.metadata.name;
  const metadata: Resource['metadata'] = { name: serviceAccountProfileName(sa.metadata.namespace ?? 'default', sa.metadata.name) };
  copyMeta(sa.metadata, metadata);
  return { apiVersion: API_VERSION, kind: 'Profile', metadata, spec: { labelsToApply } };
}

/**
 * The labels of a pod's WorkloadEndpoint: the pod's own, plus `projectcalico.org/namespace`,
 * `projectcalico.org/orchestrator: k8s` and, for a service account name under 63 characters,
 * `projectcalico.org/serviceaccount`.
 */
export function podEndpointLabels(pod: { metadata: { namespace?: string | undefined; labels?: Record<string, string> | undefined }; spec?: { serviceAccountName?: string | undefined } | undefined }): Record<string, string> {
  const serviceAccount = pod.spec?.serviceAccountName ?? '';
  const labels: Record<string, string> = { ...(pod.metadata.labels ?? {}) };
  labels[LABEL_NAMESPACE] = pod.metadata.namespace ?? 'default';
  labels[LABEL_ORCHESTRATOR] = ORCHESTRATOR_KUBERNETES;
  if (serviceAccount !== '' && serviceAccount.length < 63) labels[LABEL_SERVICE_ACCOUNT] = serviceAccount;
  return labels;
}

/** The profiles of a pod's WorkloadEndpoint: `kns.<ns>`, and `ksa.<ns>.<sa>` when it has a service account. */
export function podEndpointProfiles(namespace: string, serviceAccount: string | undefined): string[] {
  const profiles = [namespaceProfileName(namespace)];
  if (serviceAccount) profiles.push(serviceAccountProfileName(namespace, serviceAccount));
  return profiles;
}

/** True when the pod is finished (its IPs have been released), as Calico's `IsFinished` decides. */
export function podIsFinished(pod: KubernetesPod): boolean {
  const annotations = pod.metadata.annotations ?? {};
  if (pod.metadata.deletionTimestamp) {
    if (annotations[ANNOTATION_POD_IP] === '' || annotations[ANNOTATION_AWS_POD_IPS] === '') return true;
  }
  const phase = pod.status?.phase;
  return phase === 'Failed' || phase === 'Succeeded' || phase === 'Completed';
}

/** The pod's IPs, from status.podIPs, status.podIP, or Calico's / AWS's annotations, in that order. */
function podIps(pod: KubernetesPod): { source: string; values: string[] } {
  const annotations = pod.metadata.annotations ?? {};
  const status = pod.status ?? {};
  if (status.podIPs && status.podIPs.length > 0) return { source: 'status.podIPs', values: status.podIPs.map((p) => p.ip) };
  if (status.podIP) return { source: 'status.podIP', values: [status.podIP] };
  if (annotations[ANNOTATION_POD_IPS]) return { source: `metadata.annotations.${ANNOTATION_POD_IPS}`, values: annotations[ANNOTATION_POD_IPS].split(',') };
  if (annotations[ANNOTATION_POD_IP]) return { source: `metadata.annotations.${ANNOTATION_POD_IP}`, values: [annotations[ANNOTATION_POD_IP]] };
  if (annotations[ANNOTATION_AWS_POD_IPS]) return { source: `metadata.annotations.${ANNOTATION_AWS_POD_IPS}`, values: annotations[ANNOTATION_AWS_POD_IPS].split(',') };
  return { source: '', values: [] };
}

function parseJsonList(text: string, path: string, issues: FieldIssue[]): string[] {
  try {
    const value: unknown = JSON.parse(text);
    if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return value;
  } catch {
    // reported below
  }
  issues.push({ path, message: `must be a JSON list of strings (got ${JSON.stringify(text)})` });
  return [];
}

const PORT_PROTOCOLS: Record<string, string> = { '': 'TCP', TCP: 'TCP', UDP: 'UDP', SCTP: 'SCTP' };

/** A container port as the pod spec has it. */
interface ContainerPort {
  name?: string | undefined;
  containerPort: number;
  protocol?: string | undefined;
  hostPort?: number | undefined;
  hostIP?: string | undefined;
}

/**
 * A pod's WorkloadEndpoint `ports`, as Calico derives them: every container port with a name or
 * a host port, TCP by default; ports of other protocols are left out.
 */
export function podEndpointPorts(containers: readonly { ports?: readonly ContainerPort[] | null | undefined }[] | null | undefined): Record<string, unknown>[] {
  const ports: Record<string, unknown>[] = [];
  for (const container of containers ?? []) {
    for (const cp of container.ports ?? []) {
      if (cp.containerPort === 0 || ((cp.hostPort ?? 0) === 0 && !cp.name)) continue;
      const protocol = PORT_PROTOCOLS[cp.protocol ?? ''];
      if (protocol === undefined) continue; // Calico ignores ports with other protocols.
      const port: Record<string, unknown> = {};
      if (cp.name) port.name = cp.name;
      port.protocol = protocol;
      port.port = cp.containerPort;
      if (cp.hostPort) port.hostPort = cp.hostPort;
      if (cp.hostIP) port.hostIP = cp.hostIP;
      ports.push(port);
    }
  }
  return ports;
}

/**
 * Pod → WorkloadEndpoint `<node>-k8s-<pod>-eth0` in the pod's namespace. Throws ConversionIssues
 * when the pod cannot have one (not scheduled, host-networked, malformed IPs or annotations).
 */
export function podToWorkloadEndpoint(pod: KubernetesPod, options: { interfacePrefix?: string } = {}): Resource {
  const issues: FieldIssue[] = [];
  const namespace = pod.metadata.namespace ?? 'default';
  const nodeName = pod.spec.nodeName ?? '';
  if (pod.spec.hostNetwork === true) {
    issues.push({ path: 'spec.hostNetwork', message: 'a host-networked Pod has no WorkloadEndpoint' });
  }
  if (nodeName === '') {
    issues.push({ path: 'spec.nodeName', message: 'the Pod is not scheduled: a nodeName is required to name its WorkloadEndpoint' });
  }
  if (issues.length > 0) throw new ConversionIssues(issues);

  let name = '';
  try {
    name = workloadEndpointName({ node: nodeName, orchestrator: ORCHESTRATOR_KUBERNETES, pod: pod.metadata.name, endpoint: 'eth0' });
  } catch (err) {
    throw new ConversionIssues([{ path: 'metadata.name', message: (err as Error).message }]);
  }

  const serviceAccount = pod.spec.serviceAccountName ?? '';
  const profiles = podEndpointProfiles(namespace, serviceAccount);

  const ips = podIps(pod);
  const nets = ips.values.map((ip, i) => {
    const net = parseCidrOrIp(ip);
    if (!net) issues.push({ path: ips.source.startsWith('status.podIPs') ? `status.podIPs[${i}].ip` : ips.source, message: `invalid pod IP ${JSON.stringify(ip)}` });
    return net;
  });
  const ipNets = podIsFinished(pod) ? [] : nets.filter((n) => n !== undefined);

  const labels = podEndpointLabels({ metadata: { namespace, labels: pod.metadata.labels }, spec: pod.spec });

  const annotations = pod.metadata.annotations ?? {};
  const ipNATs: { internalIP: string; externalIP: string }[] = [];
  const floating = annotations[ANNOTATION_FLOATING_IPS];
  if (floating !== undefined && ipNets.length > 0) {
    const path = `metadata.annotations.${ANNOTATION_FLOATING_IPS}`;
    const v4 = ipNets.find((n) => n.family === 4);
    const v6 = ipNets.find((n) => n.family === 6);
    if (v4 && v4.prefix !== 32) issues.push({ path, message: `PodIP ${formatCidr(v4)} is not a valid IPv4: Mask size is ${v4.prefix}, not 32` });
    if (v6 && v6.prefix !== 128) issues.push({ path, message: `PodIP ${formatCidr(v6)} is not a valid IPv6: Mask size is ${v6.prefix}, not 128` });
    for (const ip of parseJsonList(floating, path, issues)) {
      const target = ip.includes(':') ? v6 : v4;
      if (target) ipNATs.push({ internalIP: formatIp({ family: target.family, value: target.base }), externalIP: ip });
    }
  }

  const sourcePrefixes: string[] = [];
  const spoof = annotations[ANNOTATION_ALLOWED_SOURCE_PREFIXES];
  if (spoof !== undefined && spoof !== '') {
    const path = `metadata.annotations.${ANNOTATION_ALLOWED_SOURCE_PREFIXES}`;
    for (const prefix of parseJsonList(spoof, path, issues)) {
      const net = parseCidr(prefix);
      if (!net) issues.push({ path, message: `failed to parse ${JSON.stringify(prefix)} as a CIDR` });
      else sourcePrefixes.push(formatCidr(net));
    }
  }

  const ports = podEndpointPorts(pod.spec.containers);
  if (issues.length > 0) throw new ConversionIssues(issues);

  const spec: Record<string, unknown> = {
    orchestrator: ORCHESTRATOR_KUBERNETES,
    node: nodeName,
    pod: pod.metadata.name,
  };
  const containerID = annotations[ANNOTATION_CONTAINER_ID];
  if (containerID) spec.containerID = containerID;
  spec.endpoint = 'eth0';
  spec.interfaceName = vethNameForPod(namespace, pod.metadata.name, options.interfacePrefix);
  spec.profiles = profiles;
  if (ipNets.length > 0) spec.ipNetworks = ipNets.map(formatCidr);
  if (ports.length > 0) spec.ports = ports;
  if (ipNATs.length > 0) spec.ipNATs = ipNATs;
  if (serviceAccount !== '') spec.serviceAccountName = serviceAccount;
  if (sourcePrefixes.length > 0) spec.allowSpoofedSourcePrefixes = sourcePrefixes;

  const metadata: Resource['metadata'] = { name, namespace, labels };
  copyMeta(pod.metadata, metadata);
  return { apiVersion: API_VERSION, kind: 'WorkloadEndpoint', metadata, spec };
}
