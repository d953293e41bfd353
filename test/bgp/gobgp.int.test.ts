/**
 * GoBGP 3.10 (Debian's gobgpd) as an external peer: two hosts peer with it over eBGP through a
 * global BGPPeer (the mesh between them stays on). GoBGP learns both hosts' blocks; a route
 * announced with `gobgp global rib add` reaches both hosts' kernels (proto bird, via GoBGP's
 * address) and is withdrawn from them again.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bgpPeers, parseProtocols } from '../../src/bgp/bird-status.ts';
import { registerCleanup } from '../harness/cleanup.ts';
import { createTestNetns, run, type TestNetns, vethPair } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { configFor, createFabric, type Fabric, nodesOf, resource, routeTo, startBird } from './topology.ts';

const skip = run('sh', ['-c', 'command -v gobgpd']).then((r) => (r.code === 0 ? false : 'gobgpd is not installed (scripts/install-deps.sh installs it)'), () => 'no shell');
const API = '127.0.0.1:50051';

describe('bgp with GoBGP as an external peer', { skip: await skip }, () => {
  let fab: Fabric;
  let gobgp: TestNetns;
  let gobgpPid = 0;
  const cli = (...args: string[]) => gobgp.exec('gobgp', ['-u', '127.0.0.1', '-p', '50051', ...args]);

  before(async () => {
    fab = await createFabric(2);
    gobgp = await createTestNetns('mgb');
    await vethPair(gobgp, fab.fabric, { nameA: 'eth0', nameB: 'pgo', addressA: '192.0.2.1/24' });
    await run('ip', ['-n', fab.fabric.name, 'link', 'set', 'pgo', 'master', 'br0']);
    const conf = join(fab.hosts[0]!.stateDir, '..', 'gobgp.toml');
    writeFileSync(conf, [
      '[global.config]',
      '  as = 64514',
      '  router-id = "192.0.2.1"',
      '  port = 179',
      '  local-address-list = ["192.0.2.1"]',
      ...fab.hosts.flatMap((h) => [
        '[[neighbors]]',
        '  [neighbors.config]',
        `    neighbor-address = "${h.ip}"`,
        '    peer-as = 64512',
        '  [neighbors.timers.config]',
        '    connect-retry = 1',
        '  [[neighbors.afi-safis]]',
        '    [neighbors.afi-safis.config]',
        '      afi-safi-name = "ipv4-unicast"',
      ]),
      '',
    ].join('\n'));
    const child = spawn('ip', ['netns', 'exec', gobgp.name, 'gobgpd', '-f', conf, '--api-hosts', API, '--pprof-disable', '-l', 'warn'], { stdio: 'ignore' });
    gobgpPid = child.pid!;
    registerCleanup(() => {
      try {
        process.kill(gobgpPid, 'SIGKILL');
      } catch {
        // gone
      }
    });
    const snapshot = {
      bgpConfigurations: [resource('BGPConfiguration', 'default', { asNumber: 64512 })],
      nodes: nodesOf(fab.hosts),
      peers: [resource('BGPPeer', 'gobgp', { peerIP: '192.0.2.1', asNumber: 64514 })],
      filters: [],
      pools: [resource('IPPool', 'pool4', { cidr: '10.244.0.0/16' })],
    };
    await Promise.all(fab.hosts.map((h) => startBird(h, configFor(h, snapshot))));
    for (const h of fab.hosts) {
      await eventually(async () => {
        const peer = bgpPeers(parseProtocols((await h.bird!.command('show protocols all')).text)).find((p) => p.protocol === 'Global_192_0_2_1');
        assert.equal(peer?.info, 'Established', JSON.stringify(peer));
      }, { timeoutMs: 30_000, intervalMs: 100 });
    }
  });
  after(async () => {
    if (gobgpPid) {
      try {
        process.kill(gobgpPid, 'SIGTERM');
      } catch {
        // gone
      }
    }
    await gobgp?.delete();
    await fab?.destroy();
  });

  it('learns every host\'s block over eBGP', async () => {
    await eventually(async () => {
      const rib = JSON.parse((await cli('global', 'rib', '-a', 'ipv4', '-j')).stdout || '{}') as Record<string, unknown[]>;
      for (const h of fab.hosts) assert.ok(h.block in rib, `GoBGP has ${h.block}: ${Object.keys(rib).join(', ')}`);
    }, { timeoutMs: 15_000, intervalMs: 200 });
    const neighbors = (await cli('neighbor')).stdout;
    assert.equal((neighbors.match(/Establ/g) ?? []).length, 2, neighbors);
  });

  it('announces a route the hosts install, and withdraws it', async () => {
    const add = await cli('global', 'rib', 'add', '-a', 'ipv4', '10.6.6.0/24', 'nexthop', '192.0.2.1');
    assert.equal(add.code, 0, add.stderr);
    for (const h of fab.hosts) {
      await eventually(async () => {
        const r = await routeTo(h, '10.6.6.0/24');
        assert.ok(r, 'a route to 10.6.6.0/24');
        assert.equal(r?.gateway, '192.0.2.1');
        assert.equal(r?.protocol, 'bird');
      }, { timeoutMs: 10_000, intervalMs: 50 });
    }
    await cli('global', 'rib', 'del', '-a', 'ipv4', '10.6.6.0/24');
    for (const h of fab.hosts) {
      await eventually(async () => assert.equal(await routeTo(h, '10.6.6.0/24'), undefined), { timeoutMs: 10_000, intervalMs: 50 });
    }
  });
});
