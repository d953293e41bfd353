/**
 * Resource throughput against a real etcd: apply 1,000 policies and get 10,000 resources through
 * Margay's ResourceStore (validation, key layout, all-or-nothing batches, decoding), each as a
 * ratio to the raw Datastore doing the same etcd reads and writes without any of that.
 * Run: npx tsx bench/resources.ts
 */
import { performance } from 'node:perf_hooks';
import { decodeDocuments, decodeResources, toResource } from '../src/api/decode.ts';
import { validateResource } from '../src/api/validate.ts';
import { createDatastore } from '../src/datastore/mod.ts';
import { ResourceStore } from '../src/datastore/resources.ts';
import { renderResources } from '../src/cli/output.ts';
import { findKind } from '../src/api/kinds/mod.ts';
import { startEtcd } from '../test/harness/etcd.ts';

function policyYaml(i: number): string {
  return `apiVersion: projectcalico.org/v3
kind: NetworkPolicy
metadata:
  name: policy-${i}
  namespace: ns-${i % 20}
spec:
  selector: app == 'app-${i % 50}' && tier in {'web', 'api'}
  order: ${i}
  ingress:
    - action: Allow
      protocol: TCP
      source:
        selector: role == 'client-${i % 7}'
        nets: ['10.${i % 250}.0.0/16']
      destination:
        ports: [80, 443, '8000:8100']
  egress:
    - action: Allow
      protocol: UDP
      destination:
        ports: [53]
`;
}

async function time<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const start = performance.now();
  const result = await fn();
  return [result, performance.now() - start];
}

const etcd = await startEtcd();
const ds = createDatastore({ type: 'etcdv3', etcdEndpoints: etcd.endpoints });
try {
  const store = new ResourceStore(ds);
  const text = Array.from({ length: 1000 }, (_, i) => policyYaml(i)).join('---\n');

  // Baseline: the same 1,000 JSON values written raw, in transactions of 128 like the store.
  const rawValues = Array.from({ length: 1000 }, (_, i) => [`/bench/raw/policy-${i}`, JSON.stringify(validateResource(decodeResources(policyYaml(i), 'x')[0]!.resource))] as const);
  const [, rawWriteMs] = await time(async () => {
    for (let i = 0; i < rawValues.length; i += 128) {
      await ds.txn(rawValues.slice(i, i + 128).map(([key, value]) => ({ op: 'put' as const, key, value })));
    }
  });
  const [docs, parseMs] = await time(async () => decodeDocuments(text, 'policies.yaml'));
  const [valid, validateMs] = await time(async () => docs.map((d) => toResource(d)));
  const [, storeMs] = await time(() => store.batch('apply', valid));
  const applyMs = parseMs + validateMs + storeMs;
  const [, reapplyMs] = await time(async () => {
    const decoded = decodeResources(text, 'policies.yaml');
    await store.batch('apply', decoded.map((d) => d.resource));
  });

  // 10,000 resources: 9,000 more network sets.
  const sets = Array.from({ length: 9000 }, (_, i) => ({
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkSet',
    metadata: { name: `set-${i}`, labels: { feed: `f${i % 10}` } },
    spec: { nets: [`10.${(i >> 8) % 256}.${i % 256}.0/24`] },
  }));
  for (let i = 0; i < sets.length; i += 1000) {
    await store.batch('apply', sets.slice(i, i + 1000).map((s) => validateResource(s)));
  }
  const [rawList, rawListMs] = await time(() => ds.list('/calico/resources/v3/projectcalico.org/'));
  const [lists, getMs] = await time(async () => {
    const np = await store.list(findKind('networkpolicy')!);
    const gns = await store.list(findKind('globalnetworkset')!);
    return [np, gns] as const;
  });
  const [rendered, renderMs] = await time(async () =>
    renderResources(findKind('globalnetworkset'), lists[1].items, { format: 'yaml', single: false, showNamespace: false }),
  );
  const count = lists[0].items.length + lists[1].items.length;

  const rows = [
    ['apply 1,000 NetworkPolicies: all of it', applyMs, rawWriteMs],
    ['  of which YAML parsing', parseMs, rawWriteMs],
    ['  of which validation and defaults', validateMs, rawWriteMs],
    ['  of which the store (existence reads + CAS txns)', storeMs, rawWriteMs],
    ['re-apply the same 1,000 (no-op: nothing written)', reapplyMs, rawWriteMs],
    [`get ${count} resources (list+decode)`, getMs, rawListMs],
    [`get ${lists[1].items.length} as YAML (render only)`, renderMs, rawListMs],
  ] as const;
  console.log(`raw datastore list returned ${rawList.items.length} keys; YAML output ${(rendered.length / 1e6).toFixed(1)} MB`);
  console.log('operation'.padEnd(56), 'margay ms'.padStart(10), 'raw etcd ms'.padStart(12), 'ratio'.padStart(7));
  for (const [name, ms, base] of rows) {
    console.log(name.padEnd(56), ms.toFixed(0).padStart(10), base.toFixed(0).padStart(12), (ms / base).toFixed(2).padStart(7));
  }
} finally {
  await ds.close();
  await etcd.destroy();
}
