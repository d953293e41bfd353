/**
 * Agent memory with 50,000 remote workload endpoints in the datastore (500 other hosts), one
 * local endpoint and 20 policies whose selectors pull the remote endpoints into IP sets: resident
 * memory and V8 heap once in sync, against the same agent before the remote endpoints were
 * written (same run). Prints figures, ratios and the cost per remote endpoint; asserts nothing.
 * Run: npx tsx bench/agent-memory.ts  (root)
 */
import type { Resource } from '../src/api/resource.ts';
import { validateResource } from '../src/api/validate.ts';
import { EtcdDatastore } from '../src/datastore/etcd.ts';
import { resourceKey } from '../src/datastore/keys.ts';
import { ResourceStore } from '../src/datastore/resources.ts';
import { createHost, startAgent } from '../test/agent/lab.ts';
import { startEtcd } from '../test/harness/etcd.ts';
import { run } from '../test/harness/netns.ts';
import { eventually } from '../test/harness/wait.ts';

const REMOTE = Number(process.env.BENCH_REMOTE ?? 50_000);
const HOSTS = 500;
const GROUPS = 50;

function remoteWep(i: number): Resource {
  const ns = `ns-${i % 20}`;
  const node = `host-${i % HOSTS}`;
  const pod = `pod${i}`;
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'WorkloadEndpoint',
    metadata: {
      name: `${node.replaceAll('-', '--')}-k8s-${pod}-eth0`,
      namespace: ns,
      labels: { app: `app-${i % GROUPS}`, 'projectcalico.org/namespace': ns, 'projectcalico.org/orchestrator': 'k8s' },
    },
    spec: {
      orchestrator: 'k8s',
      node,
      pod,
      endpoint: 'eth0',
      interfaceName: `cali${i.toString(16).padStart(11, '0')}`,
      ipNetworks: [`10.${80 + Math.floor(i / 65536)}.${Math.floor(i / 256) % 256}.${i % 256}/32`],
      profiles: [`kns.${ns}`],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  };
}

async function sample(agent: Awaited<ReturnType<typeof startAgent>>): Promise<{ rss: number; heap: number; updates: number }> {
  const text = await agent.metrics();
  const num = (name: string): number => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { rss: num('process_resident_memory_bytes'), heap: num('nodejs_heap_size_used_bytes'), updates: num('margay_datastore_updates_total') };
}

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);

const etcd = await startEtcd({ extraArgs: ['--quota-backend-bytes=4294967296'] });
const host = await createHost();
let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
const ds = new EtcdDatastore({ endpoints: etcd.endpoints, tls: {} });
try {
  const store = new ResourceStore(ds);
  await run('ip', ['-n', host.name, 'link', 'add', 'calimemlocal', 'type', 'veth', 'peer', 'name', 'memp']);
  await run('ip', ['-n', host.name, 'link', 'set', 'calimemlocal', 'up']);
  const base: Resource[] = [
    ...Array.from({ length: 20 }, (_, n) => ({
      apiVersion: 'projectcalico.org/v3',
      kind: 'Profile',
      metadata: { name: `kns.ns-${n}` },
      spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }], labelsToApply: { 'pcns.projectcalico.org/name': `ns-${n}` } },
    })),
    {
      apiVersion: 'projectcalico.org/v3',
      kind: 'WorkloadEndpoint',
      metadata: { name: 'host1-k8s-local-eth0', namespace: 'ns-0', labels: { app: 'local', 'projectcalico.org/namespace': 'ns-0', 'projectcalico.org/orchestrator': 'k8s' } },
      spec: { orchestrator: 'k8s', node: 'host1', pod: 'local', endpoint: 'eth0', interfaceName: 'calimemlocal', ipNetworks: ['10.79.0.1/32'], profiles: ['kns.ns-0'] },
    },
    // Policies on the local endpoint whose rules select remote endpoints: 19 groups of 1,000 and all 50,000.
    ...Array.from({ length: 20 }, (_, i) => ({
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: { name: `mem-${i}` },
      spec: {
        order: i,
        selector: "app == 'local'",
        types: ['Ingress'],
        ingress: [{ action: 'Allow', protocol: 'TCP', source: { selector: i === 19 ? 'has(app)' : `app == 'app-${i}'` }, destination: { ports: [80 + i] } }],
      },
    })),
  ].map((r) => validateResource(r));
  await store.batch('apply', base);

  agent = await startAgent({ etcdEndpoints: etcd.endpoints, hostname: 'host1', netns: host.name, env: { MARGAY_LOGSEVERITYSCREEN: 'warning' } });
  await agent.waitReady(300_000);
  await new Promise((r) => setTimeout(r, 3000));
  const before = await sample(agent);

  // 50,000 remote endpoints, written raw in transactions of 128 (validated once per shape).
  validateResource(remoteWep(0));
  const tw = performance.now();
  for (let i = 0; i < REMOTE; i += 128) {
    const ops = [];
    for (let j = i; j < Math.min(REMOTE, i + 128); j++) {
      const w = remoteWep(j);
      ops.push({ op: 'put' as const, key: resourceKey('workloadendpoints', w.metadata.name, w.metadata.namespace), value: JSON.stringify(w) });
    }
    await ds.txn(ops);
  }
  const writeMs = performance.now() - tw;
  await eventually(async () => (await sample(agent!)).updates >= before.updates + REMOTE, { timeoutMs: 1_800_000, intervalMs: 500, what: 'all updates received' });
  const receivedMs = performance.now() - tw;
  await agent.waitReady(1_800_000);
  await new Promise((r) => setTimeout(r, 5000));
  const after = await sample(agent);

  console.log(`${REMOTE} remote workload endpoints on ${HOSTS} hosts (written in ${(writeMs / 1000).toFixed(1)} s), 1 local endpoint, 20 policies with IP sets of 1,000 ×19 and ${REMOTE} ×1`);
  console.log('| measure | before (MiB) | with remote endpoints (MiB) | ratio | per remote endpoint |');
  console.log('|---|---:|---:|---:|---:|');
  console.log(`| resident memory | ${mib(before.rss)} | ${mib(after.rss)} | ${(after.rss / before.rss).toFixed(2)} | ${((after.rss - before.rss) / REMOTE / 1024).toFixed(2)} KiB |`);
  console.log(`| V8 heap used | ${mib(before.heap)} | ${mib(after.heap)} | ${(after.heap / before.heap).toFixed(2)} | ${((after.heap - before.heap) / REMOTE / 1024).toFixed(2)} KiB |`);
  console.log(`first write → all ${REMOTE} updates through the calculation graph: ${(receivedMs / 1000).toFixed(1)} s`);
} finally {
  await agent?.destroy();
  await host.delete();
  await ds.close();
  await etcd.destroy();
}
