/**
 * Kubernetes' standard NetworkPolicy test model (the e2e `netpol` framework's): namespaces x, y,
 * z labelled `kubernetes.io/metadata.name=<ns>`, pods a, b, c labelled `pod=<name>` in each, every
 * pod serving TCP and UDP on 80 and 81 with named ports `serve-80-tcp`, `serve-80-udp`,
 * `serve-81-tcp`, `serve-81-udp`; and a truth table to write the expected reachability by hand.
 */
import { vethNameForPod } from '../../src/api/k8s/mod.ts';

export const NAMESPACES = ['x', 'y', 'z'] as const;
export const POD_NAMES = ['a', 'b', 'c'] as const;
/** Every pod as `ns/pod`, in row/column order. */
export const PODS: string[] = NAMESPACES.flatMap((ns) => POD_NAMES.map((p) => `${ns}/${p}`));
/** The ports probed, as `policy matrix` labels them. */
export const PORTS = ['80/TCP', '81/TCP', '80/UDP', '81/UDP'] as const;
export type PortLabel = (typeof PORTS)[number];
/** The node every pod runs on. */
export const NODE = 'node1';

/** A pod's address: 10.244.<ns index + 1>.<pod index + 1>. */
export function podIp(key: string): string {
  const [ns, pod] = key.split('/') as [string, string];
  return `10.244.${NAMESPACES.indexOf(ns as 'x') + 1}.${POD_NAMES.indexOf(pod as 'a') + 1}`;
}

/** The host-side interface of a pod (Calico's naming). */
export function podInterface(key: string): string {
  const [ns, pod] = key.split('/') as [string, string];
  return vethNameForPod(ns, pod);
}

/** A v1 Namespace with the automatic name label plus `extra`. */
export function namespaceManifest(ns: string, extra: Record<string, string> = {}): object {
  return { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'kubernetes.io/metadata.name': ns, ...extra } } };
}

/** A v1 Pod of the model, scheduled on {@link NODE} with its IP in status. */
export function podManifest(key: string, labels?: Record<string, string>): object {
  const [ns, pod] = key.split('/') as [string, string];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: pod, namespace: ns, labels: labels ?? { pod } },
    spec: {
      nodeName: NODE,
      containers: [
        {
          name: 'cont-80',
          ports: [
            { name: 'serve-80-tcp', containerPort: 80, protocol: 'TCP' },
            { name: 'serve-80-udp', containerPort: 80, protocol: 'UDP' },
          ],
        },
        {
          name: 'cont-81',
          ports: [
            { name: 'serve-81-tcp', containerPort: 81, protocol: 'TCP' },
            { name: 'serve-81-udp', containerPort: 81, protocol: 'UDP' },
          ],
        },
      ],
    },
    status: { phase: 'Running', podIP: podIp(key), podIPs: [{ ip: podIp(key) }] },
  };
}

/** A networking.k8s.io/v1 NetworkPolicy. */
export function networkPolicy(ns: string, name: string, spec: Record<string, unknown>): object {
  return { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace: ns }, spec };
}

/** Selects pods (`ns/pod` keys). */
export type PodFilter = (key: string) => boolean;
/** Selects ports. */
export type PortFilter = (port: PortLabel) => boolean;

export const anyPod: PodFilter = () => true;
export const anyPort: PortFilter = () => true;
/** Pods of these namespaces. */
export const inNs = (...ns: string[]): PodFilter => (k) => ns.includes(k.split('/')[0]!);
/** Pods with these names (any namespace). */
export const named = (...pods: string[]): PodFilter => (k) => pods.includes(k.split('/')[1]!);
/** Exactly these pods. */
export const pods = (...keys: string[]): PodFilter => (k) => keys.includes(k);
export const not = (f: PodFilter): PodFilter => (k) => !f(k);
export const ports = (...labels: PortLabel[]): PortFilter => (p) => labels.includes(p);
export const tcp: PortFilter = (p) => p.endsWith('/TCP');
export const udp: PortFilter = (p) => p.endsWith('/UDP');

/**
 * The expected reachability: `port → from → to → allowed`. Starts all-allowed (or all-denied);
 * self-traffic (a pod to its own address) is always allowed, as it never leaves the pod.
 */
export class Truth {
  readonly table: Record<string, Record<string, Record<string, 'allow' | 'deny'>>> = {};
  readonly #pods: readonly string[];
  readonly #ports: readonly string[];

  /** Over the model's pods and ports by default; other suites pass their own. */
  constructor(allowed = true, pods: readonly string[] = PODS, ports: readonly string[] = PORTS) {
    this.#pods = pods;
    this.#ports = ports;
    for (const port of ports) {
      const rows: Record<string, Record<string, 'allow' | 'deny'>> = {};
      for (const from of pods) rows[from] = Object.fromEntries(pods.map((to) => [to, allowed ? 'allow' : 'deny']));
      this.table[port] = rows;
    }
  }

  /** Sets every (from, to, port) the filters select. */
  set(from: PodFilter, to: PodFilter, allowed: boolean, port: PortFilter = anyPort): this {
    for (const p of this.#ports) {
      if (!port(p as PortLabel)) continue;
      for (const f of this.#pods) for (const t of this.#pods) if (from(f) && to(t)) this.table[p]![f]![t] = allowed ? 'allow' : 'deny';
    }
    return this;
  }

  /** Denies everything into `to` (optionally on some ports), but self. */
  denyIngress(to: PodFilter, port: PortFilter = anyPort): this {
    return this.set(anyPod, to, false, port);
  }

  /** Denies everything out of `from`, but self. */
  denyEgress(from: PodFilter, port: PortFilter = anyPort): this {
    return this.set(from, anyPod, false, port);
  }

  /** The table with self-traffic allowed. */
  final(): Truth['table'] {
    for (const p of this.#ports) for (const k of this.#pods) this.table[p]![k]![k] = 'allow';
    return this.table;
  }
}

/** A readable listing of the cells where two tables differ. */
export function tableDiff(expected: Truth['table'], actual: Truth['table'], what: string): string {
  const out: string[] = [];
  for (const p of Object.keys(expected)) {
    for (const f of Object.keys(expected[p] ?? {})) {
      for (const t of Object.keys(expected[p]?.[f] ?? {})) {
        const e = expected[p]?.[f]?.[t];
        const a = actual[p]?.[f]?.[t];
        if (e !== a) out.push(`  ${p} ${f} -> ${t}: expected ${e}, ${what} ${a}`);
      }
    }
  }
  return out.join('\n');
}
