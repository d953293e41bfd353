/** Shared setup of the Kubernetes tests: a KubeControllersConfiguration, manifests, a pod's endpoint. */
import { convertKubernetesResource } from '../../src/api/k8s/mod.ts';
import { validateResource } from '../../src/api/validate.ts';
import type { Resource } from '../../src/api/resource.ts';
import type { ResourceStore } from '../../src/datastore/mod.ts';
import type { KubeHandle } from '../harness/kube.ts';

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

/** Writes the WorkloadEndpoint the CNI plugin would write for a pod (as `margay apply` converts it). */
export async function writeEndpointOf(kube: KubeHandle, store: ResourceStore, ns: string, name: string, ips: string[] = []): Promise<Resource> {
  const obj = JSON.parse(kube.kubectl(['-n', ns, 'get', 'pod', name, '-o', 'json'])) as Record<string, unknown>;
  const wep = convertKubernetesResource({ apiVersion: 'v1', kind: 'Pod', metadata: obj.metadata, spec: obj.spec, status: ips.length > 0 ? { podIPs: ips.map((ip) => ({ ip })) } : {} });
  delete wep.metadata.uid;
  delete wep.metadata.creationTimestamp;
  return (await store.apply(wep)).resource;
}
