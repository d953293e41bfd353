/**
 * Mesh off, two route reflectors (one cluster) and two clients, set up the Calico way: one
 * BGPPeer `nodeSelector: all()`, `peerSelector: route-reflector == 'true'`; the reflectors peer
 * back with every node automatically. Every host still learns every block, via its owner.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { eventually } from '../harness/wait.ts';
import { birdPeers, createFabric, type Fabric, nodesOf, resource, routeTo, startBirdsUntilEstablished, type TestHost } from './topology.ts';

const CLUSTER = '1.0.0.1';

describe('bgp route reflectors (mesh off, 2 RRs + 2 clients)', () => {
  let fab: Fabric;
  const isRR = (h: TestHost) => h.name === 'h1' || h.name === 'h2';

  before(async () => {
    fab = await createFabric(4);
    const snapshot = {
      bgpConfigurations: [resource('BGPConfiguration', 'default', { nodeToNodeMeshEnabled: false, asNumber: 64512 })],
      nodes: nodesOf(fab.hosts, (h): { bgp?: Record<string, unknown>; labels?: Record<string, string> } =>
        isRR(h) ? { bgp: { routeReflectorClusterID: CLUSTER }, labels: { 'route-reflector': 'true' } } : {},
      ),
      peers: [resource('BGPPeer', 'peer-with-route-reflectors', { nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" })],
      filters: [],
      pools: [resource('IPPool', 'pool4', { cidr: '10.244.0.0/16' })],
    };
    const establishedMs = await startBirdsUntilEstablished(fab.hosts, snapshot, (h) => (isRR(h) ? 3 : 2));
    console.log(`# route reflectors: all 5 sessions Established ${establishedMs} ms after the BIRDs started`);
  });
  after(async () => fab?.destroy());

  it('has the expected sessions: reflectors peer with everyone, clients only with the reflectors', async () => {
    const sessions = async (h: TestHost) => (await birdPeers(h)).map((p) => `${p.address} ${p.type} ${p.info}`).sort();
    assert.deepEqual(await sessions(fab.hosts[0]!), [
      '192.0.2.12 node specific Established',
      '192.0.2.13 node specific Established',
      '192.0.2.14 node specific Established',
    ]);
    assert.deepEqual(await sessions(fab.hosts[2]!), ['192.0.2.11 node specific Established', '192.0.2.12 node specific Established']);
    const rrConf = readFileSync(fab.hosts[0]!.bird!.configPath, 'utf8');
    assert.match(rrConf, /This node is a route reflector \(cluster id 1\.0\.0\.1\); it skips the mesh/);
    const clientsOf = [...rrConf.matchAll(/protocol bgp (Node_\S+) from margay_peer \{[^}]*?rr client;\s+rr cluster id 1\.0\.0\.1;/gs)].map((m) => m[1]);
    assert.deepEqual(clientsOf, ['Node_192_0_2_13', 'Node_192_0_2_14'], 'the other reflector of the cluster is not a client');
    assert.doesNotMatch(readFileSync(fab.hosts[2]!.bird!.configPath, 'utf8'), /rr client/);
  });

  it('every host learns every other block via its owner (reflected routes keep their next hop)', async () => {
    for (const h of fab.hosts) {
      await eventually(async () => {
        for (const other of fab.hosts) {
          if (other === h) continue;
          const route = await routeTo(h, other.block);
          assert.equal(route?.gateway, other.ip, `${h.name} → ${other.block}: ${JSON.stringify(route)}`);
        }
      });
    }
    const [, , h3, h4] = fab.hosts;
    const res = await h3!.ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', '-I', h3!.podIp, h4!.podIp]);
    assert.match(res.stdout, / 0% packet loss/);
  });
});
