/**
 * The DHCP service against the real thing: etcd, Debian's dnsmasq in a throwaway "host"
 * namespace, and busybox's udhcpc in a "VM" namespace behind a veth named like a tap. The client
 * must get its address, gateway, DNS servers and host routes; changes reload dnsmasq; a killed
 * dnsmasq comes back; a new service (a restarted agent) adopts the running dnsmasq.
 */
import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { DhcpService, subnetPrefix } from '../../src/dhcp/mod.ts';
import { createLogger } from '../../src/log/mod.ts';
import { useEtcd } from '../harness/etcd.ts';
import { run, useTestNetns, vethPair } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';

const TAP = 'tap1234567890a';
const MAC = 'fa:16:3e:00:00:05';
const MAC2 = 'fa:16:3e:00:00:06';
const WEP_KEY = '/calico/resources/v3/projectcalico.org/workloadendpoints/openstack/host--a-openstack-vm1-tap1234567890a';

function wep(ip: string, mac = MAC): string {
  return JSON.stringify({
    kind: 'WorkloadEndpoint',
    apiVersion: 'projectcalico.org/v3',
    metadata: {
      name: 'host--a-openstack-vm1-tap1234567890a',
      namespace: 'openstack',
      annotations: {
        'openstack.projectcalico.org/network-id': 'net-1',
        // The port's extra_dhcp_opts, as the driver writes them: served on this tap only.
        'openstack.projectcalico.org/extra-dhcp-opts': JSON.stringify([{ opt_name: 'ntp-server', opt_value: '192.0.2.123', ip_version: 4 }]),
      },
    },
    spec: { node: 'host-a', orchestrator: 'openstack', workload: 'vm1', endpoint: 'tap1234567890a', interfaceName: TAP, mac, ipNetworks: [`${ip}/32`] },
  });
}

function subnet(dns: string[]): string {
  return JSON.stringify({ network_id: 'net-1', cidr: '10.65.0.0/24', host_routes: [{ destination: '192.168.7.0/24', nexthop: '10.65.0.254' }], gateway_ip: '10.65.0.1', dns_servers: dns, mtu: 1400 });
}

describe('dhcp - dnsmasq serves a VM from etcd (real dnsmasq, real udhcpc)', () => {
  const etcd = useEtcd();
  const nets = useTestNetns(2, 'mgdh');
  const dir = mkdtempSync(join(tmpdir(), 'margay-dhcp-'));
  const services: DhcpService[] = [];
  // Warnings and errors reach the test's output (a failure then says why).
  const logger = createLogger({ level: 'warn' });
  after(async () => {
    if (existsSync(join(dir, 'dnsmasq.log'))) console.log(`# dnsmasq.log:\n${readFileSync(join(dir, 'dnsmasq.log'), 'utf8').replace(/^/gm, '# ')}`);
    for (const s of services) await s.stop({ remove: true }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('hands out address, gateway, DNS and routes; reloads; survives kill -9 and a restart', { timeout: 120_000 }, async () => {
    const [host, vm] = nets.all as [NonNullable<(typeof nets.all)[0]>, NonNullable<(typeof nets.all)[0]>];
    // The VM's NIC is a veth whose host end is named like Neutron's tap.
    await vethPair(host, vm, { nameA: TAP, nameB: 'eth0' });
    await run('ip', ['-n', vm.name, 'link', 'set', 'eth0', 'address', MAC]);
    await run('ip', ['-n', host.name, 'link', 'set', 'lo', 'up']);
    const ds = new EtcdDatastore({ endpoints: etcd.etcd.endpoints });
    try {
      await ds.put(`${subnetPrefix('')}sub-1`, subnet(['192.0.2.53']));
      await ds.put(WEP_KEY, wep('10.65.0.5'));
      const service = new DhcpService({ datastore: ds, hostname: 'host-a', dir, netns: host.name, logger, checkIntervalMs: 200 });
      services.push(service.start());
      await eventually(() => assert.ok(service.driver.pid !== undefined && service.applies > 0), { timeoutMs: 20_000 });

      // The gateway device carries the gateway address with no subnet route.
      const addrs = await host.exec('ip', ['-4', '-o', 'addr', 'show', 'dev', 'mg-dhcp']);
      assert.match(addrs.stdout, /10\.65\.0\.1\/24/);
      const routes = await host.exec('ip', ['-4', 'route', 'show', '10.65.0.0/24']);
      assert.equal(routes.stdout.trim(), '');

      const t0 = performance.now();
      const lease = await dhcpClient(vm.name, dir);
      // A figure for the docs (never asserted: wall-clock times vary).
      console.log(`# DHCP exchange (udhcpc start to bound): ${(performance.now() - t0).toFixed(0)} ms`);
      assert.equal(lease.ip, '10.65.0.5');
      assert.equal(lease.mask, '24');
      assert.equal(lease.router, '10.65.0.1');
      assert.equal(lease.dns, '192.0.2.53');
      assert.equal(lease.staticroutes, '192.168.7.0/24 10.65.0.254 0.0.0.0/0 10.65.0.1');
      // The network's MTU (option 26) and the port's extra option (tagged by the port's MAC).
      assert.equal(lease.mtu, '1400');
      assert.equal(lease.ntpsrv, '192.0.2.123');

      // A changed subnet (DNS servers) and a new address: reloaded (same PID), served.
      const pid = service.driver.pid!;
      const applied = service.applies;
      await ds.put(`${subnetPrefix('')}sub-1`, subnet(['192.0.2.99']));
      await ds.put(WEP_KEY, wep('10.65.0.7'));
      await eventually(() => assert.ok(service.applies > applied && service.rendering?.hosts.includes('10.65.0.7')), { timeoutMs: 10_000 });
      assert.equal(service.driver.pid, pid);
      const second = await dhcpClient(vm.name, dir);
      assert.equal(second.ip, '10.65.0.7');
      assert.equal(second.dns, '192.0.2.99');

      // kill -9 of dnsmasq: the service starts it again.
      process.kill(pid, 'SIGKILL');
      await eventually(() => assert.ok(service.driver.pid !== undefined && service.driver.pid !== pid), { timeoutMs: 10_000 });
      assert.equal((await dhcpClient(vm.name, dir)).ip, '10.65.0.7');

      // Neutron gives a deleted port's address to a new port (another MAC): dnsmasq's lease of the
      // old MAC is dropped (else it refuses: "leased to …") and the new VM gets the address.
      await ds.put(WEP_KEY, wep('10.65.0.7', MAC2));
      await run('ip', ['-n', vm.name, 'link', 'set', 'eth0', 'address', MAC2]);
      await eventually(() => assert.ok(service.rendering?.hosts.includes(MAC2)), { timeoutMs: 10_000 });
      assert.equal((await dhcpClient(vm.name, dir)).ip, '10.65.0.7');
      assert.ok(!readFileSync(join(dir, 'leases'), 'utf8').includes(MAC));

      // The agent goes away (dnsmasq stays); a new service adopts the same dnsmasq.
      const running = service.driver.pid!;
      await service.stop();
      const again = new DhcpService({ datastore: ds, hostname: 'host-a', dir, netns: host.name, logger });
      services.push(again.start());
      await eventually(() => assert.ok(again.applies > 0), { timeoutMs: 20_000 });
      assert.equal(again.driver.pid, running);

      // The endpoint goes: dnsmasq stops (nothing to serve), by its PID.
      await ds.delete(WEP_KEY);
      await eventually(() => assert.equal(again.driver.pid, undefined), { timeoutMs: 10_000 });
      // Gone (or a zombie this process has not reaped yet: dead all the same).
      const state = () => (existsSync(`/proc/${running}/stat`) ? readFileSync(`/proc/${running}/stat`, 'utf8').replace(/^.*\) /s, '')[0] : 'gone');
      await eventually(() => assert.ok(['gone', 'Z', 'X'].includes(state()!)), { timeoutMs: 5000 });
    } finally {
      await ds.close();
    }
  });
});

/** Runs busybox udhcpc once on the VM's eth0; returns what its script was told. */
async function dhcpClient(netns: string, dir: string): Promise<Record<string, string>> {
  const script = join(dir, 'udhcpc.sh');
  const out = join(dir, `lease-${Date.now()}.env`);
  writeFileSync(script, `#!/bin/sh\n[ "$1" = bound ] && env > ${out}\nexit 0\n`);
  chmodSync(script, 0o755);
  await run('ip', ['netns', 'exec', netns, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '5', '-T', '1', '-O', 'staticroutes', '-O', 'mtu', '-O', 'ntpsrv', '-s', script], { timeoutMs: 30_000 });
  const env: Record<string, string> = {};
  for (const line of readFileSync(out, 'utf8').split('\n')) {
    const i = line.indexOf('=');
    if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
  }
  return env;
}
