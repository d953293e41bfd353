/**
 * BGP in the node process, end to end on 3 host namespaces sharing one datastore: each node
 * registers its Node (address autodetected inside its namespace), follows the datastore through
 * its agent's syncers (the only ones in the process), and runs BIRD; pod addresses come from
 * IPAM, so the blocks BIRD announces are the ones IPAM made affine.
 */
import assert from 'node:assert/strict';
import { mkdirSync, writeFileSync } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import type { NodeProcess } from '../../src/agent/node.ts';
import { nodeKind } from '../../src/api/kinds/node.ts';
import type { BgpController } from '../../src/bgp/controller.ts';
import { secretsFromDirectory } from '../../src/bgp/controller.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { eventually } from '../harness/wait.ts';
import { addPod, createFabric, type Fabric, killBirdAtExit, resource, routeTo, startLabNode, type TestHost } from './topology.ts';

describe('BGP in the node process (3 hosts, one datastore, IPAM blocks)', () => {
  let fab: Fabric;
  let ds: MemoryDatastore;
  let store: ResourceStore;
  let ipam: Ipam;
  const nodes = new Map<string, NodeProcess>();
  const controllers = new Map<string, BgpController>();
  const logs: { level: string; msg: string }[] = [];
  // The node process's timers are unref'd (its command keeps the process alive); so does this
  // suite, or an adopted BIRD (not our child) plus a debounced render leave the loop empty.
  let keepAlive: ReturnType<typeof setInterval> | undefined;

  async function startController(h: TestHost): Promise<BgpController> {
    const node = await startLabNode(ds.peer(), h, {
      bird: { backoff: { initialMs: 100, maxMs: 1000 } },
      secrets: secretsFromDirectory(`${h.stateDir}/secrets`),
    }, (line) => {
      if (line.component === 'bgp' && line.level !== 'debug') logs.push({ level: line.level, msg: `${h.name}: ${line.msg} ${line.level === 'error' ? JSON.stringify(line) : ''}` });
    });
    nodes.set(h.name, node);
    const c = node.bgp!;
    controllers.set(h.name, c);
    await c.ready;
    killBirdAtExit(c.bird.pid!);
    return c;
  }

  async function established(h: TestHost): Promise<number> {
    return (await controllers.get(h.name)!.status()).peers.filter((p) => p.info === 'Established').length;
  }

  before(async () => {
    keepAlive = setInterval(() => {}, 1 << 30);
    fab = await createFabric(3, { blocks: false });
    ds = new MemoryDatastore();
    store = new ResourceStore(ds);
    ipam = new Ipam(ds);
    await store.create(resource('IPPool', 'pool4', { cidr: '10.244.0.0/16' }));
    const t0 = Date.now();
    await Promise.all(fab.hosts.map((h) => startController(h)));
    await eventually(async () => {
      for (const h of fab.hosts) assert.equal(await established(h), 2, h.name);
    }, { timeoutMs: 20_000, intervalMs: 50 });
    console.log(`# controller: 3 nodes registered, rendered, started BIRD; mesh Established ${Date.now() - t0} ms after start()`);
  });
  after(async () => {
    for (const n of nodes.values()) await n.stop({ bird: 'stop' }).catch(() => undefined);
    await fab?.destroy();
    clearInterval(keepAlive);
  });

  it('registers each Node with the address autodetected in its namespace', async () => {
    for (const h of fab.hosts) {
      const n = await store.get(nodeKind, h.name);
      assert.deepEqual(n?.spec, { bgp: { ipv4Address: `${h.ip}/24` } });
      assert.equal(controllers.get(h.name)!.registration?.detected.ipv4Interface, 'eth0');
    }
    const state = controllers.get('h1')!.state;
    assert.equal(state.inSync, true);
    assert.equal(state.birdRunning, true);
    assert.deepEqual(state.warnings, []);
  });

  it('a pod on a new block: announced and routed on every other host via its owner', async () => {
    const latencies: number[] = [];
    for (const h of fab.hosts) {
      const t0 = Date.now();
      const { ipv4 } = await ipam.autoAssign({ handle: `pod-${h.name}`, node: h.name, num4: 1 });
      const a = ipv4[0]!;
      await addPod(h, a.address, a.block);
      await eventually(async () => {
        for (const other of fab.hosts) {
          if (other !== h) assert.equal((await routeTo(other, a.block))?.gateway, h.ip, `${other.name} → ${a.block}`);
        }
      }, { timeoutMs: 10_000, intervalMs: 10 });
      latencies.push(Date.now() - t0);
      (h as TestHost & { pod?: string }).pod = a.address;
    }
    console.log(`# controller: IPAM assign (new block) → route on both other hosts: ${latencies.join(', ')} ms`);
    const [h1, , h3] = fab.hosts as [TestHost & { pod?: string }, TestHost, TestHost & { pod?: string }];
    const ping = await h1.ns.exec('ping', ['-c', '2', '-i', '0.2', '-W', '1', '-I', h1.pod!, h3.pod!]);
    assert.match(ping.stdout, / 0% packet loss/);
  });

  it('a borrowed address is announced as a /32 by the host that uses it', async () => {
    const [h1, h2, h3] = fab.hosts as [TestHost, TestHost, TestHost];
    const h2Block = controllers.get('h2')!.view.affineBlocks('h2')[0]!;
    const base = h2Block.split('/')[0]!.split('.').map(Number);
    const ip = [...base.slice(0, 3), base[3]! + 40].join('.');
    await ipam.assignIp({ ip, handle: 'borrower', node: 'h1' });
    await addPod(h1, ip, controllers.get('h1')!.view.affineBlocks('h1')[0]!);
    await eventually(async () => assert.equal((await routeTo(h3, ip))?.gateway, h1.ip), { timeoutMs: 10_000 });
    assert.equal((await routeTo(h3, h2Block))?.gateway, h2.ip, 'the block itself still goes to its owner');
    await ipam.releaseByHandle('borrower');
    await eventually(async () => assert.equal(await routeTo(h3, ip), undefined), { timeoutMs: 10_000 });
  });

  it('reloads on resource changes without dropping sessions; a peer needing a missing secret waits for it', async () => {
    const h1 = fab.hosts[0]!;
    const c1 = controllers.get('h1')!;
    const before = (await c1.status()).peers.map((p) => [p.protocol, p.since]);
    const applied = c1.state.applied;
    await store.create(resource('BGPPeer', 'far', { node: 'h1', peerIP: '203.0.113.1', asNumber: 65009, password: { secretKeyRef: { name: 'bgp', key: 'far' } } }));
    await eventually(() => assert.match(c1.state.warnings.join('\n'), /secret bgp\/far not found/));
    mkdirSync(`${h1.stateDir}/secrets/bgp`, { recursive: true });
    writeFileSync(`${h1.stateDir}/secrets/bgp/far`, 'pw-1\n');
    // Secrets are read at render time: the next datastore change picks the file up.
    await store.apply(resource('BGPConfiguration', 'default', { logSeverityScreen: 'Info' }));
    const protocols = async () => (await c1.status()).peers.map((p) => p.protocol);
    await eventually(async () => assert.ok((await protocols()).includes('Node_203_0_113_1'), JSON.stringify(await protocols())), { timeoutMs: 10_000 });
    assert.ok(c1.state.applied > applied, 'reconfigured');
    const now = (await c1.status()).peers.filter((p) => p.protocol.startsWith('Mesh_')).map((p) => [p.protocol, p.since]);
    assert.deepEqual(now, before, 'mesh sessions kept across the reloads');
    await store.delete(resource('BGPPeer', 'far', {}));
    await eventually(async () => assert.ok(!(await protocols()).includes('Node_203_0_113_1'), JSON.stringify(await protocols())), { timeoutMs: 10_000 });
  });

  it('BFD turned on by annotation reaches every host', async () => {
    const t0 = Date.now();
    await store.apply(resource('BGPConfiguration', 'default', { logSeverityScreen: 'Info' }, { annotations: { 'margay.io/bfd': 'true' } }));
    await eventually(async () => {
      for (const h of fab.hosts) {
        const s = await controllers.get(h.name)!.status();
        assert.equal(s.bfd.filter((b) => b.state === 'Up').length, 2, `${h.name}: ${JSON.stringify(s.bfd)}`);
      }
    }, { timeoutMs: 15_000, intervalMs: 50 });
    console.log(`# controller: BFD annotation written → all BFD sessions Up in ${Date.now() - t0} ms`);
  });

  it('a restarted node adopts the running BIRD (no session lost)', async () => {
    const h3 = fab.hosts[2]!;
    const old = controllers.get('h3')!;
    const pid = old.bird.pid;
    const before = (await old.status()).peers.map((p) => [p.protocol, p.since]);
    await nodes.get('h3')!.stop({ bird: 'leave' });
    assert.equal(old.bird.pid, pid, 'BIRD still runs');
    const fresh = await startController(h3);
    assert.equal(fresh.bird.pid, pid, 'adopted, not restarted');
    assert.deepEqual((await fresh.status()).peers.map((p) => [p.protocol, p.since]), before);
    assert.equal(await established(h3), 2);
    assert.deepEqual(logs.filter((l) => l.level === 'error'), []);
  });
});
