/** Finding the routers of unnumbered uplinks in the neighbour table (pure parts and the runner calls). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { discoveryInterfaces, linkLocalRouters, readLinkNeighbors, rememberRouters, type SeenRouters } from '../../src/bgp/link-neighbors.ts';
import type { CommandRunner } from '../../src/os/mod.ts';
import { node, res } from './helpers.ts';

describe('link neighbours', () => {
  it('router-flagged link-local entries first; any live link-local one otherwise; dead ones never', () => {
    const table = [
      { dst: 'fe80::a', lladdr: '02:00:00:00:00:0a', state: ['STALE'] },
      { dst: 'fe80::B', lladdr: '02:00:00:00:00:0b', router: null, state: ['REACHABLE'] },
      { dst: '2001:db8::1', router: null, state: ['REACHABLE'] },
      { dst: 'fe80::c', router: null, state: ['FAILED'] },
    ];
    assert.deepEqual(linkLocalRouters(JSON.stringify(table)), ['fe80::b']);
    assert.deepEqual(linkLocalRouters(JSON.stringify(table.filter((e) => !('router' in e)))), ['fe80::a']);
    assert.deepEqual(linkLocalRouters(''), []);
  });

  it('the interfaces of discovery peers that apply to this node', () => {
    const peers = [
      res('BGPPeer', 'r1', { nodeSelector: "rack == 'r1'" }, { annotations: { 'margay.io/peer-interface': 'up0,up1', 'margay.io/peer-discovery': 'neighbors' } }),
      res('BGPPeer', 'r2', { nodeSelector: "rack == 'r2'" }, { annotations: { 'margay.io/peer-interface': 'other', 'margay.io/peer-discovery': 'neighbors' } }),
      res('BGPPeer', 'wait', {}, { annotations: { 'margay.io/peer-interface': 'up2' } }),
    ];
    assert.deepEqual(discoveryInterfaces(peers, node('a', '192.0.2.1/32', {}, { rack: 'r1' })), ['up0', 'up1']);
    assert.deepEqual(discoveryInterfaces(peers, undefined), []);
    // `all`: the waiting peers' uplinks too (a graceful restart connects to their routers).
    assert.deepEqual(discoveryInterfaces(peers, node('a', '192.0.2.1/32', {}, { rack: 'r1' }), 'all'), ['up0', 'up1', 'up2']);
  });

  it('asks the all-routers group when the table is empty, then reads it again', async () => {
    const calls: string[] = [];
    let pinged = false;
    const runner: CommandRunner = async (cmd, args) => {
      calls.push(`${cmd} ${args.join(' ')}`);
      if (cmd === 'ping') pinged = true;
      const stdout = cmd === 'ip' && pinged ? JSON.stringify([{ dst: 'fe80::1', router: null, state: ['REACHABLE'] }]) : '[]';
      return { code: 0, stdout, stderr: '' };
    };
    assert.deepEqual(await readLinkNeighbors(runner, ['up0']), { up0: ['fe80::1'] });
    assert.deepEqual(calls, ['ip -6 -j neigh show dev up0', 'ping -6 -n -q -c 1 -W 1 ff02::2%up0', 'ip -6 -j neigh show dev up0']);
  });
});

describe('rememberRouters', () => {
  it('keeps a router that left the table for less than the forget time, then forgets it', () => {
    const seen: SeenRouters = {};
    assert.deepEqual(rememberRouters(seen, { uplink0: ['fe80::1'], uplink1: [] }, 1000, 60_000), { uplink0: ['fe80::1'], uplink1: [] });
    assert.deepEqual(rememberRouters(seen, { uplink0: [], uplink1: ['fe80::2'] }, 30_000, 60_000), { uplink0: ['fe80::1'], uplink1: ['fe80::2'] }, 'a link flap: still peered');
    assert.deepEqual(rememberRouters(seen, { uplink0: [], uplink1: ['fe80::2'] }, 62_000, 60_000), { uplink0: [], uplink1: ['fe80::2'] }, 'gone for longer: forgotten');
    assert.deepEqual(rememberRouters(seen, { uplink1: [] }, 63_000, 60_000), { uplink1: ['fe80::2'] }, 'an interface no longer asked about is dropped');
    assert.deepEqual(Object.keys(seen), ['uplink1']);
  });
});
