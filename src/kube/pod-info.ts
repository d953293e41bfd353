/**
 * What the CNI service needs to know about a pod, read from the Kubernetes API the way Calico's
 * CNI plugin reads it: the endpoint's labels (the pod's, plus `projectcalico.org/namespace`,
 * `…/orchestrator` and `…/serviceaccount`), its profiles (`kns.<ns>`, `ksa.<ns>.<sa>`), its named
 * ports, and Calico's address annotations (`cni.projectcalico.org/ipAddrs`, `ipAddrsNoIpam`,
 * `ipv4pools`, `ipv6pools`; the pools from the pod, else its namespace). And the write-back of the
 * pod's addresses as `cni.projectcalico.org/podIP`, `podIPs` and `containerID` (a merge PATCH).
 *
 * One client per API access (server and credentials) is kept, so an ADD costs the pod's GET (and
 * the namespace's, at the same time), on an open connection.
 */
import { ANNOTATION_CONTAINER_ID, ANNOTATION_POD_IP, ANNOTATION_POD_IPS, podEndpointLabels, podEndpointPorts, podEndpointProfiles } from '../api/mod.ts';
import { MargayError } from '../errors/mod.ts';
import { accessKey, type KubeAccess } from './client/access.ts';
import { KubeClient } from './client/http.ts';
import { getObject, NAMESPACES, patchPodAnnotations, PODS, type PodObject } from './client/kinds.ts';
import type { KubeObject } from './client/informer.ts';

export const ANNOTATION_IP_ADDRS = 'cni.projectcalico.org/ipAddrs';
export const ANNOTATION_IP_ADDRS_NO_IPAM = 'cni.projectcalico.org/ipAddrsNoIpam';
export const ANNOTATION_IPV4_POOLS = 'cni.projectcalico.org/ipv4pools';
export const ANNOTATION_IPV6_POOLS = 'cni.projectcalico.org/ipv6pools';

/** A pod as its WorkloadEndpoint needs it. */
export interface PodNetworkInfo {
  namespace: string;
  name: string;
  uid?: string;
  labels: Record<string, string>;
  profiles: string[];
  serviceAccount?: string;
  ports: Record<string, unknown>[];
  /** `cni.projectcalico.org/ipAddrs`: addresses to assign through IPAM. */
  ipAddrs?: string[];
  /** `cni.projectcalico.org/ipAddrsNoIpam`: addresses to use without IPAM. */
  ipAddrsNoIpam?: string[];
  /** Pools from `ipv4pools`/`ipv6pools` (the pod's, else its namespace's). */
  ipv4Pools?: string[];
  ipv6Pools?: string[];
}

function bad(pod: string, annotation: string, message: string): MargayError {
  return new MargayError('MARGAY_ERR_VALIDATION', `pod ${pod}: annotation ${annotation}: ${message}`);
}

function jsonList(value: string, pod: string, annotation: string): string[] {
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    throw bad(pod, annotation, `must be a JSON list of strings, got ${JSON.stringify(value)}`);
  }
  if (!Array.isArray(parsed) || !parsed.every((v) => typeof v === 'string' && v !== '')) throw bad(pod, annotation, `must be a JSON list of strings, got ${JSON.stringify(value)}`);
  return parsed as string[];
}

/** Calico's rule for ipAddrs and ipAddrsNoIpam: a non-empty list of at most one IPv4 and one IPv6 address. */
function addressList(value: string, pod: string, annotation: string): string[] {
  const ips = jsonList(value, pod, annotation);
  if (ips.length === 0) throw bad(pod, annotation, 'is set but empty');
  let v4 = 0;
  let v6 = 0;
  for (const ip of ips) {
    if (/^\d+\.\d+\.\d+\.\d+$/.test(ip)) v4++;
    else if (ip.includes(':') && !ip.includes('/')) v6++;
    else throw bad(pod, annotation, `${JSON.stringify(ip)} is not an IP address`);
  }
  if (v4 > 1) throw bad(pod, annotation, 'cannot have more than one IPv4 address');
  if (v6 > 1) throw bad(pod, annotation, 'cannot have more than one IPv6 address');
  return ips;
}

/** The network facts of a pod object and its namespace's annotations. */
export function podNetworkInfo(pod: PodObject, namespaceAnnotations: Record<string, string> = {}): PodNetworkInfo {
  const namespace = pod.metadata.namespace ?? 'default';
  const name = pod.metadata.name;
  const who = `${namespace}/${name}`;
  const annotations = pod.metadata.annotations ?? {};
  const serviceAccount = pod.spec?.serviceAccountName || undefined;
  const info: PodNetworkInfo = {
    namespace,
    name,
    labels: podEndpointLabels({ metadata: { namespace, labels: pod.metadata.labels }, spec: pod.spec }),
    profiles: podEndpointProfiles(namespace, serviceAccount),
    ports: podEndpointPorts(pod.spec?.containers),
  };
  if (pod.metadata.uid) info.uid = pod.metadata.uid;
  if (serviceAccount) info.serviceAccount = serviceAccount;
  const ipAddrs = annotations[ANNOTATION_IP_ADDRS];
  const noIpam = annotations[ANNOTATION_IP_ADDRS_NO_IPAM];
  if (ipAddrs && noIpam) throw bad(who, ANNOTATION_IP_ADDRS, `cannot be used together with ${ANNOTATION_IP_ADDRS_NO_IPAM}`);
  if (ipAddrs) info.ipAddrs = addressList(ipAddrs, who, ANNOTATION_IP_ADDRS);
  if (noIpam) info.ipAddrsNoIpam = addressList(noIpam, who, ANNOTATION_IP_ADDRS_NO_IPAM);
  for (const [annotation, field] of [[ANNOTATION_IPV4_POOLS, 'ipv4Pools'], [ANNOTATION_IPV6_POOLS, 'ipv6Pools']] as const) {
    const fromPod = annotations[annotation];
    const text = fromPod || namespaceAnnotations[annotation];
    if (text) info[field] = jsonList(text, fromPod ? who : `namespace ${namespace}`, annotation);
  }
  return info;
}

/** Options of {@link PodInfoSource}. */
export interface PodInfoSourceOptions {
  /** Timeout of each API call, ms (default 5000). */
  timeoutMs?: number;
}

/** Reads pods and writes their address annotations, with one client per API access. */
export class PodInfoSource {
  readonly #clients = new Map<string, KubeClient>();
  readonly #timeoutMs: number;

  constructor(options: PodInfoSourceOptions = {}) {
    this.#timeoutMs = options.timeoutMs ?? 5000;
  }

  /** The client of an access (made once, kept). */
  client(access: KubeAccess): KubeClient {
    const key = accessKey(access);
    let client = this.#clients.get(key);
    if (!client) {
      client = new KubeClient(access, { timeoutMs: this.#timeoutMs, userAgent: 'margay-cni' });
      this.#clients.set(key, client);
    }
    return client;
  }

  /**
   * Reads the pod (and its namespace's annotations, at the same time).
   * @throws {MargayError} MARGAY_ERR_NOT_FOUND when the pod does not exist;
   *   MARGAY_ERR_KUBE_UNAVAILABLE / MARGAY_ERR_KUBE_API when the API cannot answer;
   *   MARGAY_ERR_VALIDATION for a malformed Calico annotation.
   */
  async podInfo(access: KubeAccess, namespace: string, name: string): Promise<PodNetworkInfo> {
    const client = this.client(access);
    const [pod, ns] = await Promise.all([
      getObject<PodObject>(client, PODS, name, namespace),
      getObject<KubeObject>(client, NAMESPACES, namespace).catch(() => undefined), // only pool annotations: optional
    ]);
    if (!pod) throw new MargayError('MARGAY_ERR_NOT_FOUND', `pod ${namespace}/${name} does not exist in the Kubernetes API at ${access.server}`);
    return podNetworkInfo(pod, ns?.metadata.annotations ?? {});
  }

  /** Writes `podIP`, `podIPs` and `containerID` onto the pod, as Calico does (addresses with their prefix). */
  async writePodIps(access: KubeAccess, namespace: string, name: string, ips: string[], containerId: string): Promise<void> {
    await patchPodAnnotations(this.client(access), namespace, name, {
      [ANNOTATION_POD_IP]: ips[0] ?? '',
      [ANNOTATION_POD_IPS]: ips.join(','),
      [ANNOTATION_CONTAINER_ID]: containerId,
    });
  }

  /**
   * On DEL: empties `podIP`/`podIPs` when the pod still names this container (so a finished pod
   * reads as having released its addresses). Absent pods and API failures are ignored.
   */
  async clearPodIps(access: KubeAccess, namespace: string, name: string, containerId: string): Promise<void> {
    try {
      const client = this.client(access);
      const pod = await getObject<PodObject>(client, PODS, name, namespace);
      if (!pod || pod.metadata.annotations?.[ANNOTATION_CONTAINER_ID] !== containerId) return;
      await patchPodAnnotations(client, namespace, name, { [ANNOTATION_POD_IP]: '', [ANNOTATION_POD_IPS]: '' });
    } catch {
      // best effort: the pod is going away
    }
  }

  /** Closes every client. */
  close(): void {
    for (const c of this.#clients.values()) c.close();
    this.#clients.clear();
  }
}
