/**
 * Kubernetes manifests made ready for offline policy evaluation (`margay policy trace -f`,
 * `policy matrix -f`): Pods without an IP get a deterministic placeholder address from
 * 10.244.0.0/16 (pods sorted by namespace and name, numbered from 10.244.0.1, skipping addresses
 * other pods already have) and `spec.nodeName: margay-offline` when unscheduled; a Namespace
 * gets the `kubernetes.io/metadata.name` label the API server would add, and a namespace that a
 * Pod uses but no manifest defines is added with just that label.
 */
import type { DecodedDocument } from '../api/mod.ts';
import { isKubernetesKind } from '../api/mod.ts';
import { MargayError } from '../errors/mod.ts';
import { formatIp, parseIp } from '../net/mod.ts';

/** The placeholder pool of offline pods without an IP. */
export const OFFLINE_POD_POOL = '10.244.0.0/16';
/** The node given to unscheduled offline pods. */
export const OFFLINE_NODE = 'margay-offline';

const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

/**
 * Prepares Kubernetes objects for offline evaluation (see the file comment): placeholder pod
 * IPs, a node for unscheduled pods, the automatic namespace label, implied namespaces.
 */
export function prepareOfflineDocuments(docs: DecodedDocument[]): DecodedDocument[] {
  const out = docs.map((d) => ({ ...d, object: structuredClone(d.object) }));
  const pods = out.filter((d) => isKubernetesKind(d.object) && asRecord(d.object)?.kind === 'Pod');
  const used = new Set<bigint>();
  const needIp: Record<string, unknown>[] = [];
  const podNamespaces = new Set<string>();
  for (const d of pods) {
    const pod = d.object as Record<string, unknown>;
    const meta = asRecord(pod.metadata) ?? {};
    podNamespaces.add(typeof meta.namespace === 'string' ? meta.namespace : 'default');
    const spec = asRecord(pod.spec);
    if (spec && (spec.nodeName === undefined || spec.nodeName === '')) spec.nodeName = OFFLINE_NODE;
    const status = asRecord(pod.status);
    const ips = [
      ...(typeof status?.podIP === 'string' ? [status.podIP] : []),
      ...(Array.isArray(status?.podIPs) ? (status.podIPs as Array<{ ip?: unknown }>).map((p) => p?.ip) : []),
    ].filter((ip): ip is string => typeof ip === 'string' && ip !== '');
    const annotations = asRecord(meta.annotations) ?? {};
    const annotated = ['cni.projectcalico.org/podIP', 'cni.projectcalico.org/podIPs'].some((a) => typeof annotations[a] === 'string' && annotations[a] !== '');
    for (const ip of ips) {
      const addr = parseIp(ip.replace(/\/32$/, ''));
      if (addr?.family === 4) used.add(addr.value);
    }
    if (ips.length === 0 && !annotated) needIp.push(pod);
  }
  needIp.sort((a, b) => {
    const ka = `${asRecord(a.metadata)?.namespace ?? 'default'}/${asRecord(a.metadata)?.name}`;
    const kb = `${asRecord(b.metadata)?.namespace ?? 'default'}/${asRecord(b.metadata)?.name}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const base = parseIp('10.244.0.0')!.value;
  let next = 1n;
  for (const pod of needIp) {
    while (used.has(base + next)) next++;
    if (next >= 65535n) throw new MargayError('MARGAY_ERR_USAGE', `too many pods without an IP for the offline pool ${OFFLINE_POD_POOL}`);
    const ip = formatIp({ family: 4, value: base + next });
    used.add(base + next);
    const status = asRecord(pod.status) ?? {};
    status.podIP = ip;
    status.podIPs = [{ ip }];
    pod.status = status;
  }
  const namespaces = new Set<string>();
  for (const d of out) {
    const obj = asRecord(d.object);
    if (!isKubernetesKind(d.object) || obj?.kind !== 'Namespace') continue;
    const meta = asRecord(obj.metadata);
    if (!meta || typeof meta.name !== 'string') continue;
    namespaces.add(meta.name);
    const labels = asRecord(meta.labels) ?? {};
    labels[NAMESPACE_NAME_LABEL] ??= meta.name;
    meta.labels = labels;
  }
  for (const ns of [...podNamespaces].sort()) {
    if (namespaces.has(ns)) continue;
    out.push({
      source: { file: '(implied by its pods)', document: 0 },
      object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [NAMESPACE_NAME_LABEL]: ns } } },
    });
  }
  return out;
}
