/**
 * The `margay` plugin driven by a real CNI runtime library: cnitool built on Debian's libcni
 * (ADD, CHECK, DEL through libcni's exec, version negotiation, result parsing and cache), against
 * the CNI service programming a real host namespace, with a real etcd. GC and STATUS (CNI 1.1,
 * newer than this libcni) are driven through the binary with environment and stdin as libcni
 * would.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import { run, type TestNetns } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { CLIENT, runPlugin } from './binary.ts';
import { ensureCnitool, NODE, startBed, type Bed } from './bed.ts';

let bed: Bed;
let cnitool: string;

before(async () => {
  cnitool = ensureCnitool();
  bed = await startBed();
  bed.network('mnet', [{ type: 'margay', mtu: 1400, args: { cni: { labels: [{ key: 'app', value: 'web' }] } } }]);
  bed.network('mnet6', [{ type: 'margay', ipam: { type: 'margay-ipam', assign_ipv6: 'true' } }]);
  bed.network('mnet031', [{ type: 'margay' }], '0.3.1');
  bed.network('mnet040', [{ type: 'margay' }], '0.4.0');
  bed.network('hostlocal', [{ type: 'margay', ipam: { type: 'host-local', ranges: [[{ subnet: '10.99.0.0/24' }]], dataDir: join(bed.dir, 'host-local') } }]);
  bed.network('brnet', [{ type: 'bridge', bridge: 'mgbr0', isGateway: false, ipMasq: false, ipam: { type: 'margay-ipam' } }]);
  bed.network('badnet', [{ type: 'margay', mtu: 5 }]);
});

after(async () => {
  await bed?.close();
});

interface ToolRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `cnitool <cmd> <net> /run/netns/<ns>` for container `containerId`. */
function tool(cmd: 'add' | 'check' | 'del', net: string, ns: TestNetns, containerId: string, extra: Record<string, string> = {}): Promise<ToolRun> {
  const env = { PATH: process.env.PATH ?? '', NETCONFPATH: bed.netconfDir, CNI_PATH: bed.cniPath, CNI_CACHE_DIR: join(bed.dir, 'cache'), CNI_CONTAINERID: containerId, ...extra };
  // The runtime runs in the host's namespace, so stock plugins (bridge) build there, never in the machine's.
  return new Promise((resolve) => {
    execFile('nsenter', [`--net=/run/netns/${bed.host.name}`, cnitool, cmd, net, `/run/netns/${ns.name}`], { env, encoding: 'utf8', timeout: 60_000 }, (err, stdout, stderr) =>
      resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}

async function ok(cmd: 'add' | 'check' | 'del', net: string, ns: TestNetns, containerId: string, extra: Record<string, string> = {}): Promise<string> {
  const r = await tool(cmd, net, ns, containerId, extra);
  assert.equal(r.code, 0, `cnitool ${cmd} ${net} failed: ${r.stderr}${r.stdout}`);
  return r.stdout;
}

async function nsJson(ns: string, args: string[]): Promise<unknown> {
  return JSON.parse((await run('ip', ['-n', ns, '-j', ...args])).stdout);
}

describe('cnitool (libcni) - ADD, CHECK, DEL', () => {
  it('ADD plumbs the container as Calico does and registers the endpoint', async () => {
    const c = await bed.container();
    const result = JSON.parse(await ok('add', 'mnet', c, 'ctr-a')) as { ips: { address: string }[]; interfaces: { name: string; mac: string }[] };
    const address = result.ips[0]!.address;
    assert.match(address, /^10\.244\.\d+\.\d+\/32$/);
    const ip = address.replace('/32', '');
    const [eth0] = (await nsJson(c.name, ['addr', 'show', 'dev', 'eth0'])) as { mtu: number; address: string; addr_info: { local: string; prefixlen: number }[] }[];
    assert.equal(eth0!.mtu, 1400);
    assert.ok(eth0!.addr_info.some((a) => a.local === ip && a.prefixlen === 32));
    const routes = (await nsJson(c.name, ['route', 'show'])) as { dst: string; gateway?: string; scope?: string }[];
    assert.deepEqual(routes, [
      { dst: 'default', gateway: '169.254.1.1', dev: 'eth0', flags: [] },
      { dst: '169.254.1.1', dev: 'eth0', scope: 'link', flags: [] },
    ].map((r) => ({ ...r })) as unknown as typeof routes);
    const hostIf = result.interfaces[0]!.name;
    assert.match(hostIf, /^cali[0-9a-f]{11}$/);
    const [link] = (await nsJson(bed.host.name, ['link', 'show', 'dev', hostIf])) as { address: string; operstate: string; mtu: number }[];
    assert.equal(link!.address, 'ee:ee:ee:ee:ee:ee');
    assert.equal(link!.mtu, 1400);
    const hostRoutes = (await nsJson(bed.host.name, ['route', 'show', 'dev', hostIf])) as { dst: string; protocol: string }[];
    assert.deepEqual(hostRoutes.map((r) => [r.dst, r.protocol]), [[ip, '77']]);
    const proxyArp = await run('ip', ['netns', 'exec', bed.host.name, 'cat', `/proc/sys/net/ipv4/conf/${hostIf}/proxy_arp`]);
    assert.equal(proxyArp.stdout.trim(), '1');
    const wep = await bed.store.get(workloadEndpointKind, `${NODE.replaceAll('-', '--')}-cni-ctr--a-eth0`, 'default');
    assert.ok(wep, 'WorkloadEndpoint written');
    assert.deepEqual((wep.spec as { ipNetworks: string[] }).ipNetworks, [address]);
    assert.equal(wep.metadata.labels?.app, 'web');
    assert.deepEqual(await bed.ipam.ipsByHandle('mnet.ctr-a'), [ip]);

    // The host reaches the container through the veth (routed, proxy ARP on the host side).
    await run('ip', ['netns', 'exec', bed.host.name, 'ping', '-c1', '-W2', ip]);

    await ok('check', 'mnet', c, 'ctr-a');
    await ok('del', 'mnet', c, 'ctr-a');
    assert.deepEqual(await bed.hostVeths(), []);
    assert.equal((await nsJson(c.name, ['link', 'show'])) instanceof Array && ((await nsJson(c.name, ['link', 'show'])) as unknown[]).length, 1);
    assert.equal(await bed.store.get(workloadEndpointKind, `${NODE.replaceAll('-', '--')}-cni-ctr--a-eth0`, 'default'), undefined);
    assert.deepEqual(await bed.ipam.ipsByHandle('mnet.ctr-a'), []);
    await ok('del', 'mnet', c, 'ctr-a');
  });

  it('CHECK reports a change made behind its back (code 100)', async () => {
    const c = await bed.container();
    await ok('add', 'mnet', c, 'ctr-b');
    await run('ip', ['-n', c.name, 'route', 'del', 'default']);
    const r = await tool('check', 'mnet', c, 'ctr-b');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr + r.stdout, /no default route via 169\.254\.1\.1/);
    await ok('del', 'mnet', c, 'ctr-b');
  });

  it('IPv4 and IPv6: two containers reach each other through the host', async () => {
    const a = await bed.container();
    const b = await bed.container();
    const ra = JSON.parse(await ok('add', 'mnet6', a, 'dual-a')) as { ips: { address: string }[] };
    const rb = JSON.parse(await ok('add', 'mnet6', b, 'dual-b')) as { ips: { address: string }[] };
    assert.equal(ra.ips.length, 2);
    const [b4, b6] = rb.ips.map((i) => i.address.replace(/\/\d+$/, ''));
    await a.exec('ping', ['-c1', '-W2', b4!]);
    await a.exec('ping', ['-6', '-c1', '-W2', b6!]);
    const v6routes = (await nsJson(a.name, ['-6', 'route', 'show', 'default'])) as { gateway: string }[];
    assert.equal(v6routes[0]!.gateway, 'fe80::ecee:eeff:feee:eeee');
    await ok('check', 'mnet6', a, 'dual-a');
    await ok('del', 'mnet6', a, 'dual-a');
    await ok('del', 'mnet6', b, 'dual-b');
    assert.deepEqual(await bed.hostVeths(), []);
  });

  it('configuration versions 0.3.1 and 0.4.0 (results in their shape; CHECK needs 0.4.0)', async () => {
    const c = await bed.container();
    const r031 = JSON.parse(await ok('add', 'mnet031', c, 'v031')) as { cniVersion: string; ips: { version?: string }[] };
    assert.equal(r031.cniVersion, '0.3.1');
    assert.equal(r031.ips[0]!.version, '4');
    await ok('del', 'mnet031', c, 'v031');
    const r040 = JSON.parse(await ok('add', 'mnet040', c, 'v040')) as { cniVersion: string };
    assert.equal(r040.cniVersion, '0.4.0');
    await ok('check', 'mnet040', c, 'v040');
    await ok('del', 'mnet040', c, 'v040');
  });

  it('the stock host-local IPAM under margay (delegation through CNI_PATH)', async () => {
    const c = await bed.container();
    const result = JSON.parse(await ok('add', 'hostlocal', c, 'hl-1')) as { ips: { address: string }[] };
    assert.match(result.ips[0]!.address, /^10\.99\.0\.\d+\/32$/);
    const ip = result.ips[0]!.address.replace('/32', '');
    assert.ok(existsSync(join(bed.dir, 'host-local', 'hostlocal', ip)), 'host-local recorded the address');
    const wep = (await bed.store.list(workloadEndpointKind)).items.find((w) => (w.spec as { containerID: string }).containerID === 'hl-1');
    assert.deepEqual((wep?.spec as { ipNetworks: string[] }).ipNetworks, [`${ip}/32`]);
    await ok('check', 'hostlocal', c, 'hl-1');
    await ok('del', 'hostlocal', c, 'hl-1');
    assert.ok(!existsSync(join(bed.dir, 'host-local', 'hostlocal', ip)), 'host-local released the address');
  });

  it('margay-ipam under the stock bridge plugin', async () => {
    const a = await bed.container();
    const b = await bed.container();
    const ra = JSON.parse(await ok('add', 'brnet', a, 'br-1')) as { ips: { address: string }[] };
    // (The stock bridge plugin's own CHECK compares the bridge's MAC, which changes as ports join.)
    await ok('check', 'brnet', a, 'br-1');
    const rb = JSON.parse(await ok('add', 'brnet', b, 'br-2')) as { ips: { address: string }[] };
    assert.match(ra.ips[0]!.address, /^10\.244\.\d+\.\d+\/26$/);
    const ipA = ra.ips[0]!.address.split('/')[0]!;
    const ipB = rb.ips[0]!.address.split('/')[0]!;
    assert.deepEqual(await bed.ipam.ipsByHandle('brnet.br-1'), [ipA]);
    assert.equal((await bed.store.list(workloadEndpointKind)).items.filter((w) => (w.spec as { containerID: string }).containerID.startsWith('br-')).length, 0);
    // Same block, same bridge: L2 neighbours.
    await a.exec('ping', ['-c1', '-W2', ipB]);
    await ok('del', 'brnet', a, 'br-1');
    await ok('del', 'brnet', b, 'br-2');
    assert.deepEqual(await bed.ipam.ipsByHandle('brnet.br-1'), []);
    assert.deepEqual(await bed.ipam.ipsByHandle('brnet.br-2'), []);
  });

  it('a bad configuration fails with code 7 and leaves nothing', async () => {
    const c = await bed.container();
    const r = await tool('add', 'badnet', c, 'bad-1');
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /mtu/);
    assert.deepEqual(await bed.hostVeths(), []);
    const direct = await runPlugin(CLIENT, { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'bad-1', CNI_NETNS: `/run/netns/${c.name}`, CNI_IFNAME: 'eth0', CNI_PATH: bed.cniPath }, JSON.stringify({ cniVersion: '1.0.0', name: 'badnet', type: 'margay', mtu: 5, agent_socket: bed.socket }));
    assert.equal(direct.json?.code, 7);
  });
});

describe('through the binary (CNI 1.1) - GC, STATUS, errors', () => {
  const env = (cmd: string, extra: Record<string, string> = {}) => ({ CNI_COMMAND: cmd, CNI_PATH: bed.cniPath, ...extra });
  const conf11 = (extra: Record<string, unknown> = {}) => JSON.stringify({ cniVersion: '1.1.0', name: 'mnet', type: 'margay', agent_socket: bed.socket, ...extra });

  it('GC after a runtime crash releases the orphans and keeps the valid attachments', async () => {
    const alive = await bed.container();
    const ids = ['gc-keep', 'gc-orphan-1', 'gc-orphan-2'];
    const nss: TestNetns[] = [];
    for (const id of ids) {
      const ns = id === 'gc-keep' ? alive : await bed.container();
      nss.push(ns);
      await ok('add', 'mnet', ns, id);
    }
    // The runtime "crashes": the orphans' namespaces go away without any DEL.
    await nss[1]!.delete();
    await nss[2]!.delete();
    const gc = await runPlugin(CLIENT, env('GC'), conf11({ 'cni.dev/valid-attachments': [{ containerID: 'gc-keep', ifname: 'eth0' }] }));
    assert.equal(gc.code, 0, gc.stdout);
    const weps = (await bed.store.list(workloadEndpointKind)).items.map((w) => (w.spec as { containerID: string }).containerID);
    assert.deepEqual(weps, ['gc-keep']);
    assert.deepEqual(await bed.ipam.ipsByHandle('mnet.gc-orphan-1'), []);
    assert.deepEqual(await bed.ipam.ipsByHandle('mnet.gc-orphan-2'), []);
    assert.equal((await bed.ipam.ipsByHandle('mnet.gc-keep')).length, 1);
    assert.equal((await bed.hostVeths()).length, 1);
    await ok('del', 'mnet', alive, 'gc-keep');
  });

  it('STATUS: ready; not available when the agent is down', async () => {
    const st = await runPlugin(CLIENT, env('STATUS'), conf11());
    assert.equal(st.code, 0, st.stdout);
    await bed.stopCni();
    try {
      const down = await runPlugin(CLIENT, env('STATUS'), conf11());
      assert.equal(down.json?.code, 50);
      const c = await bed.container();
      const add = await runPlugin(CLIENT, env('ADD', { CNI_CONTAINERID: 'down-1', CNI_NETNS: `/run/netns/${c.name}`, CNI_IFNAME: 'eth0' }), conf11());
      assert.equal(add.json?.code, 11);
      assert.deepEqual(await bed.hostVeths(), []);
    } finally {
      await bed.startCni();
    }
  });

  it('datastore unavailable: code 11 and nothing left behind', async () => {
    const c = await bed.container();
    await bed.etcd.stop();
    try {
      const add = await runPlugin(CLIENT, env('ADD', { CNI_CONTAINERID: 'noetcd-1', CNI_NETNS: `/run/netns/${c.name}`, CNI_IFNAME: 'eth0' }), conf11(), 60_000);
      assert.equal(add.json?.code, 11, add.stdout);
      assert.deepEqual(await bed.hostVeths(), []);
    } finally {
      await bed.etcd.restart();
    }
    // The clients reconnect after their circuit breaker's pause.
    await eventually(async () => assert.deepEqual(await bed.ipam.ipsByHandle('mnet.noetcd-1'), []), { timeoutMs: 30_000, intervalMs: 500 });
    await eventually(async () => (await runPlugin(CLIENT, env('STATUS'), conf11())).code === 0, { timeoutMs: 30_000, intervalMs: 500 });
  });

  it('a kernel failure (the container already has an eth0): code 5 and nothing left behind', async () => {
    const c = await bed.container();
    await run('ip', ['-n', c.name, 'link', 'add', 'eth0', 'type', 'veth', 'peer', 'name', 'eth0peer']);
    const add = await runPlugin(CLIENT, env('ADD', { CNI_CONTAINERID: 'clash-1', CNI_NETNS: `/run/netns/${c.name}`, CNI_IFNAME: 'eth0' }), conf11());
    assert.equal(add.json?.code, 5, add.stdout);
    assert.match(String(add.json?.msg), /File exists/);
    assert.deepEqual(await bed.hostVeths(), []);
    assert.deepEqual(await bed.ipam.ipsByHandle('mnet.clash-1'), []);
    assert.equal((await bed.store.list(workloadEndpointKind)).items.filter((w) => (w.spec as { containerID: string }).containerID === 'clash-1').length, 0);
  });

  it('an unknown container netns: code 3', async () => {
    const add = await runPlugin(CLIENT, env('ADD', { CNI_CONTAINERID: 'ghost', CNI_NETNS: '/run/netns/no-such-ns', CNI_IFNAME: 'eth0' }), conf11());
    assert.equal(add.json?.code, 3);
  });

});
