/** Shared setup of the Kubernetes tests: a KubeControllersConfiguration, manifests, a pod's endpoint. */
import { execFile } from 'node:child_process';
import { convertKubernetesResource, podEndpointLabels } from '../../src/api/k8s/mod.ts';
import { networkPolicyKind } from '../../src/api/kinds/network-policy.ts';
import { profileKind } from '../../src/api/kinds/profile.ts';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import { decidedContent, type KubeObject, type PodObject } from '../../src/kube/mod.ts';
import { namespaceMirror, policyMirror, serviceAccountMirror } from '../../src/kube/controllers/mirrors.ts';
import { validateResource } from '../../src/api/validate.ts';
import type { Resource } from '../../src/api/resource.ts';
import type { ResourceStore } from '../../src/datastore/mod.ts';
import type { KubeHandle } from '../harness/kube.ts';

/**
 * Runs kubectl with the admin kubeconfig without blocking the event loop (controllers running in
 * the test's own process keep working meanwhile, unlike with the harness's synchronous kubectl);
 * resolves with stdout, rejects with stderr.
 */
export function kubectlOf(kube: KubeHandle, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = execFile('kubectl', ['--kubeconfig', kube.kubeconfig, ...args], { encoding: 'utf8', maxBuffer: 64 * 2 ** 20 }, (err, out, stderr) => (err ? reject(new Error(stderr || err.message)) : resolve(out)));
    if (input !== undefined) c.stdin!.end(input);
  });
}

/** Waits, without blocking the event loop, until a ServiceAccount exists (made by kube-controller-manager). */
export async function waitForServiceAccountOf(kube: KubeHandle, namespace: string, name = 'default', timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      await kubectlOf(kube, ['-n', namespace, 'get', 'serviceaccount', name, '-o', 'name']);
      return;
    } catch (err) {
      if (Date.now() > deadline) throw new Error(`ServiceAccount ${namespace}/${name} did not appear within ${timeoutMs} ms: ${(err as Error).message}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** A `default` KubeControllersConfiguration with every controller on and short periods. */
export function kubeControllersConfig(options: { period?: string; leakGrace?: string; only?: string[] } = {}): Resource {
  const period = { reconcilerPeriod: options.period ?? '2s' };
  const all: Record<string, unknown> = {
    node: { ...period, syncLabels: 'Enabled', leakGracePeriod: options.leakGrace ?? '1s' },
    policy: period,
    workloadEndpoint: period,
    serviceAccount: period,
    namespace: period,
  };
  const controllers = options.only ? Object.fromEntries(Object.entries(all).filter(([k]) => options.only!.includes(k))) : all;
  return validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'KubeControllersConfiguration', metadata: { name: 'default' }, spec: { controllers } });
}

/** A namespace manifest. */
export function namespace(name: string, labels: Record<string, string> = {}): string {
  return JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name, labels } });
}

/** A pod manifest bound to `node` (no scheduler needed), with named ports. */
export function pod(ns: string, name: string, node: string, labels: Record<string, string>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels, ...((extra.annotations as object | undefined) ? { annotations: extra.annotations } : {}) },
    spec: {
      nodeName: node,
      containers: [{ name: 'c', image: 'docker.io/local/busybox:1', ports: [{ name: 'serve-80-tcp', containerPort: 80 }, { name: 'serve-81-udp', containerPort: 81, protocol: 'UDP' }] }],
      ...((extra.spec as object | undefined) ?? {}),
    },
  });
}

/** A networking.k8s.io/v1 NetworkPolicy manifest allowing `from` pods to `selector` pods. */
export function networkPolicy(ns: string, name: string, selector: Record<string, string>, from: Record<string, string>, port = 80): string {
  return JSON.stringify({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: ns },
    spec: { podSelector: { matchLabels: selector }, ingress: [{ from: [{ podSelector: { matchLabels: from } }], ports: [{ port, protocol: 'TCP' }] }] },
  });
}

/**
 * A NetworkPolicy isolating `n=1` pods for egress whose first rule Calico cannot express, though
 * the API server accepts it: an IPv4-mapped IPv6 `except` inside an IPv4 CIDR (a v6 notNet in a v4
 * rule). Converted as written it would allow all egress; the second rule (DNS) converts.
 */
export function halfConvertiblePolicy(ns: string, name: string): string {
  return JSON.stringify({
    apiVersion: 'networking.k8s.io/v1',
    kind: 'NetworkPolicy',
    metadata: { name, namespace: ns },
    spec: {
      podSelector: { matchLabels: { n: '1' } },
      policyTypes: ['Egress'],
      egress: [{ to: [{ ipBlock: { cidr: '0.0.0.0/0', except: ['::ffff:10.0.0.0/104'] } }] }, { ports: [{ protocol: 'UDP', port: 53 }] }],
    },
  });
}

/** The Warning events recorded on NetworkPolicy `ns/name`, as `reason: message`. */
export function policyEvents(kube: KubeHandle, ns: string, name: string): string[] {
  const events = (JSON.parse(kube.kubectl(['-n', ns, 'get', 'events', '--field-selector', `involvedObject.kind=NetworkPolicy,involvedObject.name=${name}`, '-o', 'json'])) as {
    items: { type: string; reason: string; message: string }[];
  }).items;
  return events.filter((e) => e.type === 'Warning').map((e) => `${e.reason}: ${e.message}`);
}

/** Writes the WorkloadEndpoint the CNI plugin would write for a pod (as `margay apply` converts it). */
export async function writeEndpointOf(kube: KubeHandle, store: ResourceStore, ns: string, name: string, ips: string[] = []): Promise<Resource> {
  const obj = JSON.parse(await kubectlOf(kube, ['-n', ns, 'get', 'pod', name, '-o', 'json'])) as Record<string, unknown>;
  const wep = convertKubernetesResource({ apiVersion: 'v1', kind: 'Pod', metadata: obj.metadata, spec: obj.spec, status: ips.length > 0 ? { podIPs: ips.map((ip) => ({ ip })) } : {} });
  delete wep.metadata.uid;
  delete wep.metadata.creationTimestamp;
  return (await store.apply(wep)).resource;
}

function sorted(labels: Record<string, string> | undefined): string {
  return JSON.stringify(Object.entries(labels ?? {}).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * How etcd differs from the converted state of the Kubernetes API: every `kns.`/`ksa.` Profile and
 * `knp.default.` policy exactly as converted (nothing missing, nothing stale, nothing extra), and
 * every Kubernetes endpoint with its pod's current labels. Empty when they agree.
 */
export async function convergenceGaps(kube: KubeHandle, store: ResourceStore): Promise<string[]> {
  const list = (what: string[]): KubeObject[] => (JSON.parse(kube.kubectl(['get', ...what, '-o', 'json'])) as { items: KubeObject[] }).items;
  const quiet = (): void => {};
  const expected = new Map<string, string>();
  const add = (r: Resource | undefined): void => {
    if (r) expected.set(`${r.kind} ${r.metadata.namespace ?? ''}/${r.metadata.name}`, decidedContent(r));
  };
  for (const ns of list(['namespaces'])) add(namespaceMirror.convert({ ...ns, apiVersion: 'v1', kind: 'Namespace' }, quiet));
  for (const sa of list(['serviceaccounts', '-A'])) add(serviceAccountMirror.convert({ ...sa, apiVersion: 'v1', kind: 'ServiceAccount' }, quiet));
  for (const np of list(['networkpolicies', '-A'])) add(policyMirror.convert({ ...np, apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' }, quiet));
  const actual = new Map<string, string>();
  for (const r of (await store.list(profileKind)).items) if (namespaceMirror.owned.owns(r) || serviceAccountMirror.owned.owns(r)) actual.set(`Profile /${r.metadata.name}`, decidedContent(r));
  for (const r of (await store.list(networkPolicyKind)).items) if (policyMirror.owned.owns(r)) actual.set(`NetworkPolicy ${r.metadata.namespace}/${r.metadata.name}`, decidedContent(r));
  const gaps: string[] = [];
  for (const [k, v] of expected) if (actual.get(k) !== v) gaps.push(actual.has(k) ? `${k} differs` : `${k} missing`);
  for (const k of actual.keys()) if (!expected.has(k)) gaps.push(`${k} stale`);
  const pods = new Map(list(['pods', '-A']).map((p) => [`${p.metadata.namespace}/${p.metadata.name}`, p as PodObject]));
  for (const wep of (await store.list(workloadEndpointKind)).items) {
    const spec = wep.spec as { orchestrator?: string; pod?: string };
    if (spec.orchestrator !== 'k8s') continue;
    const p = pods.get(`${wep.metadata.namespace}/${spec.pod}`);
    if (!p) gaps.push(`WorkloadEndpoint ${wep.metadata.namespace}/${wep.metadata.name} of a pod that is gone`);
    else if (sorted(wep.metadata.labels) !== sorted(podEndpointLabels({ metadata: p.metadata, spec: p.spec }))) gaps.push(`WorkloadEndpoint ${wep.metadata.namespace}/${wep.metadata.name} has old labels`);
  }
  return gaps;
}
