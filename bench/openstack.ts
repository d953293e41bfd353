/**
 * OpenStack port latency through a real neutron-server with Margay's driver, a real etcd and a real
 * `margay agent`: Neutron's own port create (POST /ports, no binding) against a VM port's way to
 * being served — POST /ports bound to the agent's host (binding + WorkloadEndpoint written), the
 * VM's interface attached, the agent's endpoint status `up` in etcd, the port ACTIVE in Neutron.
 * p50/p99 over BENCH_PORTS ports (default 50); the ratio shows what Margay adds to Neutron.
 *
 * The VM is a stand-in by default (a namespace behind a veth named `tap…`, as `lab vm add
 * --stand-in`); `attach` is the one place a real VM boot (and a reachability probe) plugs in.
 * Prints figures and the load; asserts nothing. Run (root): npx tsx bench/openstack.ts
 */
import { readFileSync } from 'node:fs';
import { createDatastore, ResourceStore } from '../src/datastore/mod.ts';
import type { NeutronApi } from '../src/lab/openstack/neutron-api.ts';
import { addPod, createHost, startAgent, type TestPod } from '../test/agent/lab.ts';
import { startEtcd } from '../test/harness/etcd.ts';
import type { TestNetns } from '../test/harness/netns.ts';
import { startNeutron } from '../test/harness/neutron.ts';
import { eventually } from '../test/harness/wait.ts';

const PORTS = Number(process.env.BENCH_PORTS ?? 50);
const HOST = 'host-1';
type Json = Record<string, any>;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

/** Attaches a VM to a bound port on the host; resolves once its interface exists (stand-in: a veth). */
type Attach = (port: Json, index: number) => Promise<{ detach: () => Promise<void> }>;

function standIn(host: TestNetns): Attach {
  return async (port) => {
    const pod: TestPod = await addPod(host, { name: port.id, hostInterface: `tap${port.id.slice(0, 11)}`, ip: port.fixed_ips[0].ip_address, ports: [80] });
    return { detach: () => pod.netns.delete() };
  };
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await fn();
  return [value, performance.now() - t0];
}

const etcd = await startEtcd();
const neutron = await startNeutron({ etcdEndpoint: etcd.endpoints[0]! });
const ds = createDatastore({ type: 'etcdv3', etcdEndpoints: etcd.endpoints });
const store = new ResourceStore(ds);
const host = await createHost();
const detaches: (() => Promise<void>)[] = [];
let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
try {
  const api: NeutronApi = neutron.api;
  await store.apply({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: HOST }, spec: {} } as never);
  agent = await startAgent({ etcdEndpoints: etcd.endpoints, hostname: HOST, netns: host.name, env: { MARGAY_INTERFACEPREFIX: 'tap' } });
  await agent.waitReady();
  const network = await api.create<Json>('network', { name: 'bench' });
  await api.create('subnet', { network_id: network.id, cidr: '10.83.0.0/22', ip_version: 4 });
  const attach = standIn(host);
  const own: number[] = [];
  const create: number[] = [];
  const attached: number[] = [];
  const programmed: number[] = [];
  const active: number[] = [];
  const programAfterAttach: number[] = [];
  // Warm-up: the first requests of a fresh server load code and caches.
  for (let i = 0; i < 3; i++) await api.remove('port', (await api.create<Json>('port', { network_id: network.id })).id);
  for (let i = 0; i < PORTS; i++) {
    const [plain, ownMs] = await timed(() => api.create<Json>('port', { network_id: network.id, device_owner: 'compute:nova', device_id: `plain-${i}` }));
    own.push(ownMs);
    await api.remove('port', plain.id);
    const t0 = performance.now();
    const port = await api.create<Json>('port', { network_id: network.id, device_owner: 'compute:nova', device_id: `vm-${i}`, 'binding:host_id': HOST });
    create.push(performance.now() - t0);
    if (port['binding:vif_type'] !== 'tap') throw new Error(`port not bound: ${JSON.stringify(port)}`);
    detaches.push((await attach(port, i)).detach);
    const tAttached = performance.now();
    attached.push(tAttached - t0);
    const statusKey = `/calico/felix/v2/no-region/host/${HOST}/workload/openstack/openstack%2fvm-${i}/endpoint/${port.id}`;
    await eventually(async () => (await ds.get(statusKey))?.value.includes('"up"') === true, { timeoutMs: 30_000, intervalMs: 5, what: 'endpoint status up' });
    const tUp = performance.now();
    programmed.push(tUp - t0);
    programAfterAttach.push(tUp - tAttached);
    await eventually(async () => (await api.get<Json>('port', port.id)).status === 'ACTIVE', { timeoutMs: 30_000, intervalMs: 10, what: 'port ACTIVE' });
    active.push(performance.now() - t0);
  }
  const row = (name: string, v: number[]) => `| ${name} | ${percentile(v, 50).toFixed(0)} | ${percentile(v, 99).toFixed(0)} | ${(percentile(v, 50) / percentile(own, 50)).toFixed(1)}× |`;
  console.log(`${PORTS} VM ports (stand-in VMs: a veth tap… per port), one at a time; milliseconds; load ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
  console.log('| measure | p50 | p99 | / Neutron p50 |');
  console.log('|---|---:|---:|---:|');
  console.log(row("Neutron's own port create (POST /ports, unbound)", own));
  console.log(row('bound port create (binding + WorkloadEndpoint written)', create));
  console.log(row('… + VM interface attached (stand-in)', attached));
  console.log(row('… + endpoint programmed (agent status up in etcd)', programmed));
  console.log(row('… + port ACTIVE in Neutron', active));
  console.log(`agent: interface attached → programmed p50 ${percentile(programAfterAttach, 50).toFixed(0)} ms, p99 ${percentile(programAfterAttach, 99).toFixed(0)} ms`);
} finally {
  await agent?.destroy();
  for (const detach of detaches) await detach().catch(() => undefined);
  await host.delete();
  await ds.close();
  await neutron.destroy();
  await etcd.destroy();
}
