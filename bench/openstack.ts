/**
 * OpenStack port latency through a real neutron-server with Margay's driver, a real etcd and a real
 * `margay agent` (with its DHCP service, dnsmasq): Neutron's own port create (POST /ports, no
 * binding) against a VM port's way to a **reachable VM** — POST /ports bound to the agent's host
 * (binding + WorkloadEndpoint written), the tap made and a real QEMU microvm booted on it, the
 * agent's endpoint status `up`, the port ACTIVE, the VM's address by DHCP (its console), and the
 * first ping answered by the VM from a neighbour on the same host. p50/p99 over BENCH_PORTS VMs
 * (default 50); the ratio shows what Margay (and the VM's boot) adds to Neutron.
 *
 * VMs are booted one at a time and deleted once measured (2 shared cores: QEMU's software
 * emulation takes a core while it boots). A second phase repeats the measure with stand-ins (a
 * namespace behind a veth named `tap…`, as `lab vm add --stand-in`: no boot, no DHCP) to show the
 * port path alone. Prints figures and the load; asserts nothing.
 * Run (root): flock /tmp/margay-bench.lock npx tsx bench/openstack.ts   (BENCH_PHASES=vm,stand-in)
 */
import { type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { createDatastore, ResourceStore } from '../src/datastore/mod.ts';
import { type NeutronApi, NeutronApiError } from '../src/lab/openstack/neutron-api.ts';
import { sleep } from '../src/os/mod.ts';
import { bootWatched } from '../src/lab/vm/boot-watchdog.ts';
import { vmImage } from '../src/lab/vm/image.ts';
import { createTap, removeLink } from '../src/lab/vm/links.ts';
import { hostTscKhz, QEMU, qemuArgs } from '../src/lab/vm/qemu.ts';
import { addPod, createHost, startAgent, type TestPod } from '../test/agent/lab.ts';
import { startEtcd } from '../test/harness/etcd.ts';
import type { TestNetns } from '../test/harness/netns.ts';
import { startNeutron } from '../test/harness/neutron.ts';
import { eventually, withTimeout } from '../test/harness/wait.ts';

const PORTS = Number(process.env.BENCH_PORTS ?? 50);
const PHASES = (process.env.BENCH_PHASES ?? 'vm,stand-in').split(',');
const HOST = 'host-1';
type Json = Record<string, any>;
/** Milliseconds since the start of the port's POST, per step (a step not reached is absent). */
type Marks = Record<string, number>;

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((x, y) => x - y);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

function loadavg(): string {
  return readFileSync('/proc/loadavg', 'utf8').trim();
}

/** Attaches a VM to a bound port; resolves once it is as far as it goes (`marks` filled meanwhile). */
type Attach = (port: Json, t0: number, marks: Marks) => Promise<{ detach: () => Promise<void> }>;

/** The stand-in: a namespace behind a veth `tap…` with the port's address set statically. */
function standIn(host: TestNetns, prober: TestPod): Attach {
  return async (port, t0, marks) => {
    const ip = port.fixed_ips[0].ip_address as string;
    const ping = firstReply(prober.netns, ip);
    try {
      const pod: TestPod = await addPod(host, { name: port.id, hostInterface: `tap${port.id.slice(0, 11)}`, ip, ports: [80] });
      marks.attached = performance.now() - t0;
      marks.reachable = (await withTimeout(ping.reply, 60_000, `stand-in ${ip} reachable`)) - t0;
      return { detach: () => pod.netns.delete() };
    } finally {
      ping.stop();
    }
  };
}

/** Resolves with the time of the first echo reply `ping` prints (it pings every 50 ms meanwhile). */
function firstReply(from: TestNetns, ip: string): { reply: Promise<number>; stop: () => void } {
  const child: ChildProcess = from.spawn('ping', ['-n', '-i', '0.05', '-W', '1', ip], { stdio: ['ignore', 'pipe', 'ignore'] });
  const reply = new Promise<number>((resolve, reject) => {
    let text = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      text += chunk.toString();
      if (/bytes from/.test(text)) resolve(performance.now());
    });
    child.once('exit', () => reject(new Error(`ping ${ip} exited without a reply`)));
  });
  reply.catch(() => undefined);
  return { reply, stop: () => child.kill('SIGKILL') };
}

/**
 * A real VM: the tap made in the host's namespace (as nova/libvirt does), QEMU booted on it
 * (again if its console stays silent, lab's boot watchdog), the address taken by DHCP (the
 * console's `DHCP:` line), reachable once `prober` gets its first ping answered.
 */
function realVm(host: TestNetns, prober: TestPod, dir: string): Attach {
  const image = vmImage();
  const tscKhz = hostTscKhz();
  return async (port, t0, marks) => {
    const tap = `tap${port.id.slice(0, 11)}`;
    const ip = port.fixed_ips[0].ip_address as string;
    const consoleLog = join(dir, `${tap}.log`);
    let qemu: ChildProcess | undefined;
    const stopQemu = async (): Promise<void> => {
      const child = qemu;
      if (!child || child.exitCode !== null || child.signalCode !== null) return;
      await new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.kill('SIGKILL');
      });
    };
    const detach = async (): Promise<void> => {
      await stopQemu();
      await removeLink(host.name, tap);
    };
    await createTap(host.name, tap);
    const ping = firstReply(prober.netns, ip);
    try {
      const { n } = await bootWatched({
        what: `VM ${tap}`,
        silenceMs: 10_000,
        attempts: 3,
        start: () => {
          rmSync(consoleLog, { force: true });
          marks.attached ??= performance.now() - t0;
          qemu = host.spawn(QEMU, qemuArgs({ name: tap, image, tap, mac: port.mac_address, consoleSocket: join(dir, `${tap}.sock`), consoleLog, tscKhz }));
          return { spoke: () => existsSync(consoleLog) && statSync(consoleLog).size > 0, stop: stopQemu };
        },
      });
      marks.boots = n;
      await eventually(
        () => {
          if (marks.dhcp === undefined && /DHCP: [0-9.]+\//.test(readFileSync(consoleLog, 'utf8'))) marks.dhcp = performance.now() - t0;
          return marks.dhcp !== undefined;
        },
        { timeoutMs: 120_000, intervalMs: 20, what: `VM ${tap} DHCP` },
      );
      marks.reachable = (await withTimeout(ping.reply, 60_000, `VM ${ip} reachable`)) - t0;
    } catch (err) {
      await detach();
      throw err;
    } finally {
      ping.stop();
    }
    return { detach };
  };
}

const etcd = await startEtcd();
const neutron = await startNeutron({ etcdEndpoint: etcd.endpoints[0]! });
const ds = createDatastore({ type: 'etcdv3', etcdEndpoints: etcd.endpoints });
const store = new ResourceStore(ds);
const host = await createHost();
const dir = mkdtempSync(join(tmpdir(), 'margay-bench-os-'));
let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
let prober: TestPod | undefined;
try {
  const api: NeutronApi = neutron.api;
  await store.apply({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: HOST }, spec: {} } as never);
  agent = await startAgent({ etcdEndpoints: etcd.endpoints, hostname: HOST, netns: host.name, env: { MARGAY_INTERFACEPREFIX: 'tap', MARGAY_DHCP: 'true' } });
  await agent.waitReady();
  const network = await api.create<Json>('network', { name: 'bench' });
  await api.create('subnet', { network_id: network.id, cidr: '10.83.0.0/22', ip_version: 4, gateway_ip: '10.83.0.1' });
  const statusKey = (device: string, portId: string): string => `/calico/felix/v2/no-region/host/${HOST}/workload/openstack/openstack%2f${device}/endpoint/${portId}`;
  const statusUp = async (device: string, portId: string): Promise<boolean> => (await ds.get(statusKey(device, portId)))?.value.includes('"up"') === true;

  // The neighbour that pings each VM: a stand-in in the same (default) security group, whose rule
  // lets members reach each other.
  const proberPort = await api.create<Json>('port', { network_id: network.id, device_owner: 'compute:nova', device_id: 'prober', 'binding:host_id': HOST });
  prober = await addPod(host, { name: 'prober', hostInterface: `tap${proberPort.id.slice(0, 11)}`, ip: proberPort.fixed_ips[0].ip_address, ports: [80] });
  await eventually(() => statusUp('prober', proberPort.id), { timeoutMs: 30_000, intervalMs: 50, what: 'prober endpoint up' });
  // Its status write (ACTIVE) done before the measures start.
  await eventually(async () => (await api.get<Json>('port', proberPort.id)).status === 'ACTIVE', { timeoutMs: 30_000, intervalMs: 100, what: 'prober ACTIVE' });

  /** `fn` tried again (up to 5 times) while Neutron's SQLite answers 500 ("database is locked"). */
  const unlocked = async <T>(fn: () => Promise<T>): Promise<T> => {
    for (let n = 1; ; n++) {
      try {
        return await fn();
      } catch (err) {
        if (!(err instanceof NeutronApiError && err.status === 500) || n >= 5) throw err;
        await sleep(200);
      }
    }
  };
  const removePort = (id: string): Promise<void> => unlocked(() => api.remove('port', id));

  /** One VM port measured: Neutron's own create, then the bound port's way to a reachable VM; all removed after. */
  const measureOne = async (device: string, attach: Attach): Promise<{ ownMs: number; marks: Marks }> => {
    const [plain, ownMs] = await timed(() => api.create<Json>('port', { network_id: network.id, device_owner: 'compute:nova', device_id: `plain-${device}` }));
    await removePort(plain.id);
    const marks: Marks = {};
    const t0 = performance.now();
    const port = await api.create<Json>('port', { network_id: network.id, device_owner: 'compute:nova', device_id: device, 'binding:host_id': HOST });
    marks.create = performance.now() - t0;
    let detach: (() => Promise<void>) | undefined;
    try {
      if (port['binding:vif_type'] !== 'tap') throw new Error(`port not bound: ${JSON.stringify(port)}`);
      // The agent's and Neutron's sides are watched while the VM boots.
      const programmed = eventually(() => statusUp(device, port.id), { timeoutMs: 120_000, intervalMs: 20, what: 'endpoint status up' }).then(() => (marks.programmed = performance.now() - t0));
      const active = eventually(async () => (await api.get<Json>('port', port.id)).status === 'ACTIVE', { timeoutMs: 120_000, intervalMs: 50, what: 'port ACTIVE' }).then(() => (marks.active = performance.now() - t0));
      programmed.catch(() => undefined);
      active.catch(() => undefined);
      detach = (await attach(port, t0, marks)).detach;
      await Promise.all([programmed, active]);
    } finally {
      await detach?.();
      await removePort(port.id);
    }
    return { ownMs, marks };
  };

  /** One phase: PORTS VM ports, one at a time, each attached, measured, then removed. */
  const phase = async (name: string, attach: Attach): Promise<void> => {
    const own: number[] = [];
    const rows = new Map<string, number[]>();
    const mark = (key: string, value: number | undefined): void => {
      if (value !== undefined) rows.set(key, [...(rows.get(key) ?? []), value]);
    };
    let retries = 0;
    // Warm-up: the first requests of a fresh server load code and caches.
    for (let i = 0; i < 3; i++) await removePort((await unlocked(() => api.create<Json>('port', { network_id: network.id }))).id);
    const loadBefore = loadavg();
    let discarded = 0;
    for (let i = 0; i < PORTS; i++) {
      try {
        const sample = await measureOne(`${name}-${i}`, attach);
        own.push(sample.ownMs);
        retries += (sample.marks.boots ?? 1) - 1;
        for (const key of ['create', 'attached', 'programmed', 'active', 'dhcp', 'reachable']) mark(key, sample.marks[key]);
        if (sample.marks.reachable !== undefined && sample.marks.attached !== undefined) mark('boot', sample.marks.reachable - sample.marks.attached);
      } catch (err) {
        // neutron-server on SQLite answers 500 ("database is locked") when its API and its status
        // worker write at once: that sample is dropped (and counted), the VM measured again.
        if (!(err instanceof NeutronApiError && err.status === 500) || ++discarded > 10) throw err;
        i--;
      }
    }
    const base = percentile(own, 50);
    const row = (label: string, v: number[] | undefined) => (v ? `| ${label} | ${percentile(v, 50).toFixed(0)} | ${percentile(v, 99).toFixed(0)} | ${(percentile(v, 50) / base).toFixed(1)}× |` : undefined);
    console.log(`\n### ${name}: ${PORTS} VM ports, one at a time; ms from the start of POST /ports; load before ${loadBefore}, after ${loadavg()}`);
    console.log('| measure | p50 | p99 | / Neutron p50 |');
    console.log('|---|---:|---:|---:|');
    const labels: [string, string][] = [
      ['create', 'bound port create (binding + WorkloadEndpoint written)'],
      ['attached', name === 'vm' ? '… + tap made, QEMU started' : '… + VM interface attached (stand-in veth)'],
      ['programmed', '… endpoint programmed (agent status up in etcd)'],
      ['active', '… port ACTIVE in Neutron'],
      ['dhcp', '… VM got its address by DHCP (its console)'],
      ['reachable', '… **VM reachable** (first ping answered from a neighbour)'],
    ];
    console.log(`| Neutron's own port create (POST /ports, unbound) | ${base.toFixed(0)} | ${percentile(own, 99).toFixed(0)} | 1.0× |`);
    for (const [key, label] of labels) {
      const line = row(label, rows.get(key));
      if (line) console.log(line);
    }
    const boot = rows.get('boot');
    if (boot) console.log(`${name === 'vm' ? 'QEMU start' : 'interface attached'} → reachable: p50 ${percentile(boot, 50).toFixed(0)} ms, p99 ${percentile(boot, 99).toFixed(0)} ms; boots retried by the watchdog: ${retries}`);
    console.log(`samples dropped after a Neutron 500 (SQLite "database is locked"): ${discarded}`);
  };

  if (PHASES.includes('vm')) await phase('vm', realVm(host, prober, dir));
  if (PHASES.includes('stand-in')) await phase('stand-in', standIn(host, prober));
} catch (err) {
  console.error(`--- neutron-server log (tail) ---\n${neutron.logTail(30)}`);
  if (agent) {
    const dnsmasqLog = join(dirname(agent.logFile), 'state', 'dhcp', 'dnsmasq.log');
    console.error(`--- agent log (DHCP, warnings) ---\n${agent.logs().split('\n').filter((l) => /dhcp|DHCP|"level":"(warn|error)"/.test(l)).slice(-20).join('\n')}`);
    console.error(`--- dnsmasq log (tail) ---\n${existsSync(dnsmasqLog) ? readFileSync(dnsmasqLog, 'utf8').split('\n').slice(-30).join('\n') : '(none)'}`);
  }
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.log'))) console.error(`--- ${f} (tail) ---\n${readFileSync(join(dir, f), 'utf8').split('\n').slice(-15).join('\n')}`);
  throw err;
} finally {
  await agent?.destroy();
  await prober?.netns.delete();
  await host.delete();
  await ds.close();
  await neutron.destroy();
  await etcd.destroy();
  rmSync(dir, { recursive: true, force: true });
}

async function timed<T>(fn: () => Promise<T>): Promise<[T, number]> {
  const t0 = performance.now();
  const value = await fn();
  return [value, performance.now() - t0];
}
