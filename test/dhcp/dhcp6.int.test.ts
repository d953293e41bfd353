/**
 * IPv6 for VMs against the real thing: etcd, Debian's dnsmasq in a throwaway "host" namespace
 * sending router advertisements on a tap (a veth named like one), and the kernel of a "VM"
 * namespace forming its address by SLAAC. A Neutron `slaac` subnet's port address is the EUI-64
 * of its MAC: the VM must form exactly that, with its router (the host's link-local address on the
 * tap) as default route and no on-link prefix (`off-link`: everything goes through the host).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { DhcpService, subnetPrefix } from '../../src/dhcp/mod.ts';
import { createLogger } from '../../src/log/mod.ts';
import { useEtcd } from '../harness/etcd.ts';
import { run, useTestNetns, vethPair } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { canonicalIp } from '../../src/net/mod.ts';

/** What the test client prints. */
interface Dhcp6Answer {
  address?: string;
  dns?: string[];
  error?: string;
}

const DHCP6_CLIENT = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'dhcp6-client.mjs');

const TAP = 'tap6234567890a';
const MAC = 'fa:16:3e:00:00:05';
// Neutron's slaac address of MAC on 2001:db8:1::/64 (EUI-64: fa → f8, ff:fe in the middle).
const SLAAC_IP = '2001:db8:1:0:f816:3eff:fe00:5';

/** The WorkloadEndpoint an OpenStack port on host-a gets (as the driver writes it). */
function endpointJson(name: string, iface: string, mac: string, ip: string): string {
  return JSON.stringify({
    kind: 'WorkloadEndpoint',
    apiVersion: 'projectcalico.org/v3',
    metadata: { name, namespace: 'openstack', annotations: { 'openstack.projectcalico.org/network-id': 'net-1' } },
    spec: { node: 'host-a', orchestrator: 'openstack', workload: name, endpoint: iface, interfaceName: iface, mac, ipNetworks: [`${ip}/128`] },
  });
}

describe('dhcp - IPv6 for VMs (real dnsmasq: kernel SLAAC, a DHCPv6 client)', () => {
  const etcd = useEtcd();
  const nets = useTestNetns(3, 'mgd6');
  const dir = mkdtempSync(join(tmpdir(), 'margay-dhcp6-'));
  const services: DhcpService[] = [];
  after(async () => {
    if (existsSync(join(dir, 'dnsmasq.log'))) console.log(`# dnsmasq.log:\n${readFileSync(join(dir, 'dnsmasq.log'), 'utf8').replace(/^/gm, '# ')}`);
    for (const s of services) await s.stop({ remove: true }).catch(() => undefined);
    rmSync(dir, { recursive: true, force: true });
  });

  it('a slaac subnet: the VM forms its port address, routes through the host, no on-link prefix', { timeout: 120_000 }, async () => {
    const [host, vm] = nets.all as [NonNullable<(typeof nets.all)[0]>, NonNullable<(typeof nets.all)[0]>];
    await vethPair(host, vm, { nameA: TAP, nameB: 'eth0' });
    await run('ip', ['-n', vm.name, 'link', 'set', 'eth0', 'down']);
    await run('ip', ['-n', vm.name, 'link', 'set', 'eth0', 'address', MAC]);
    const ds = new EtcdDatastore({ endpoints: etcd.etcd.endpoints });
    try {
      await ds.put(`${subnetPrefix('')}sub-6`, JSON.stringify({ network_id: 'net-1', cidr: '2001:db8:1::/64', gateway_ip: '2001:db8:1::1', host_routes: [], dns_servers: ['2001:db8::53'], ipv6_ra_mode: 'slaac', ipv6_address_mode: 'slaac' }));
      await ds.put('/calico/resources/v3/projectcalico.org/workloadendpoints/openstack/host--a-openstack-vm6-tap6234567890a', endpointJson('host--a-openstack-vm6-tap6234567890a', TAP, MAC, SLAAC_IP));
      const service = new DhcpService({ datastore: ds, hostname: 'host-a', dir, netns: host.name, logger: createLogger({ level: 'warn' }), checkIntervalMs: 200 });
      services.push(service.start());
      await eventually(() => assert.ok(service.driver.pid !== undefined && service.applies > 0), { timeoutMs: 20_000 });
      assert.deepEqual(service.rendering?.endpoints[0]?.served, [`${SLAAC_IP}@sub-6`]);
      assert.match((await host.exec('ip', ['-6', '-o', 'addr', 'show', 'dev', 'mg-dhcp'])).stdout, /2001:db8:1::1\/64/);

      // The VM's NIC comes up: it solicits, the host advertises, the kernel forms its address.
      await run('ip', ['-n', vm.name, 'link', 'set', 'eth0', 'up']);
      const t0 = performance.now();
      await eventually(async () => (await vm.exec('ip', ['-6', '-o', 'addr', 'show', 'dev', 'eth0', 'scope', 'global'])).stdout.includes(`${SLAAC_IP}/64`), { timeoutMs: 30_000, intervalMs: 100, what: 'the SLAAC address' });
      console.log(`# link up to SLAAC address: ${(performance.now() - t0).toFixed(0)} ms`);
      const routes = (await vm.exec('ip', ['-6', 'route', 'show', 'dev', 'eth0'])).stdout;
      assert.match(routes, /default via fe80::[0-9a-f:]+ proto ra/);
      assert.doesNotMatch(routes, /2001:db8:1::\/64/, 'off-link: no on-link route for the prefix');
    } finally {
      await ds.close();
    }
  });

  it('a dhcpv6-stateful subnet: a DHCPv6 client gets the port address and the DNS servers', { timeout: 120_000 }, async () => {
    const [host, , vm] = nets.all as [NonNullable<(typeof nets.all)[0]>, unknown, NonNullable<(typeof nets.all)[0]>];
    const tap = 'tap7234567890a';
    const mac = 'fa:16:3e:00:00:07';
    const ip = '2001:db8:2::25';
    for (const k of ['all', 'default']) await vm.exec('tee', [`/proc/sys/net/ipv6/conf/${k}/accept_dad`], { input: '0\n' });
    await vethPair(host, vm, { nameA: tap, nameB: 'eth0' });
    await run('ip', ['-n', vm.name, 'link', 'set', 'eth0', 'down']);
    await run('ip', ['-n', vm.name, 'link', 'set', 'eth0', 'address', mac]);
    await run('ip', ['-n', vm.name, 'link', 'set', 'eth0', 'up']);
    const ds = new EtcdDatastore({ endpoints: etcd.etcd.endpoints });
    try {
      await ds.put(`${subnetPrefix('')}sub-7`, JSON.stringify({ network_id: 'net-1', cidr: '2001:db8:2::/64', gateway_ip: '2001:db8:2::1', host_routes: [], dns_servers: ['2001:db8::53'], ipv6_ra_mode: 'dhcpv6-stateful', ipv6_address_mode: 'dhcpv6-stateful' }));
      await ds.put('/calico/resources/v3/projectcalico.org/workloadendpoints/openstack/host--a-openstack-vm7-tap7234567890a', endpointJson('host--a-openstack-vm7-tap7234567890a', tap, mac, ip));
      // The first test's service lost its datastore: stop it, and serve this host again from here.
      for (const s of services.splice(0)) await s.stop({ remove: true });
      const service = new DhcpService({ datastore: ds, hostname: 'host-a', dir, netns: host.name, logger: createLogger({ level: 'warn' }), checkIntervalMs: 200 });
      services.push(service.start());
      await eventually(() => assert.ok(service.rendering?.ranges.some((r) => r.startsWith('set:subnet-sub-7,2001:db8:2::,static,off-link,64,'))), { timeoutMs: 20_000, what: 'the stateful range' });
      await eventually(() => assert.ok(service.driver.pid !== undefined && service.rendering?.endpoints.some((e) => e.served.includes(`${ip}@sub-7`))), { timeoutMs: 20_000 });
      const t0 = performance.now();
      const answer = (await eventually(async () => {
        const out = JSON.parse((await vm.exec(process.execPath, [DHCP6_CLIENT, 'eth0', mac, '4000'])).stdout) as Dhcp6Answer;
        return out.address !== undefined ? out : false;
      }, { timeoutMs: 40_000, intervalMs: 500, what: 'a DHCPv6 reply with an address' })) as Dhcp6Answer;
      console.log(`# DHCPv6 solicit to reply: ${(performance.now() - t0).toFixed(0)} ms`);
      assert.equal(canonicalIp(answer.address!), ip);
      assert.deepEqual(answer.dns!.map((a) => canonicalIp(a)), ['2001:db8::53']);
      // Another client (another DUID) on that port gets nothing: the port's one address is leased to the first.
      const stranger = JSON.parse((await vm.exec(process.execPath, [DHCP6_CLIENT, 'eth0', 'fa:16:3e:99:99:99', '3000'])).stdout) as Dhcp6Answer;
      assert.equal(stranger.address, undefined);
    } finally {
      for (const s of services.splice(0)) await s.stop({ remove: true }).catch(() => undefined);
      await ds.close();
    }
  });
});
