/**
 * Failure detection and graceful restart on a 3-host mesh:
 *  - BFD (Margay extension `margay.io/bfd`, 100 ms × 3): a host whose link dies loses its routes
 *    on the others because BFD took its sessions down (BIRD's last error says so), well inside a
 *    3 s window; without BFD they stay through that window (hold time 240 s);
 *  - graceful restart: BIRD restarted on a host (`graceful restart`, then `bird -R`) while a
 *    ping flow crosses it: no packet lost, the peers' kernels never drop its block.
 * Measured figures are printed as `# ...` lines.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { bgpPeers, parseBfdSessions, parseProtocols } from '../../src/bgp/bird-status.ts';
import { run } from '../harness/netns.ts';
import { margay } from '../cli/helpers.ts';
import { eventually } from '../harness/wait.ts';
import { RouteWatch } from './route-watch.ts';
import { configFor, createFabric, type Fabric, nodesOf, resource, routeTo, startBird, type TestHost } from './topology.ts';

type BfdAnnotation = 'true' | 'graceful' | 'false';

describe('bgp failure detection (BFD) and graceful restart', () => {
  let fab: Fabric;
  let h1: TestHost;
  let h2: TestHost;
  let h3: TestHost;
  const snapshotWith = (bfd: BfdAnnotation) => ({
    bgpConfigurations: [resource('BGPConfiguration', 'default', { asNumber: 64512 }, { annotations: { 'margay.io/bfd': bfd } })],
    nodes: nodesOf(fab.hosts),
    peers: [],
    filters: [],
    pools: [resource('IPPool', 'pool4', { cidr: '10.244.0.0/16' })],
  });

  async function established(h: TestHost): Promise<number> {
    return bgpPeers(parseProtocols((await h.bird!.command('show protocols all')).text)).filter((p) => p.info === 'Established').length;
  }

  async function allUp(options: { bfd: boolean }): Promise<void> {
    await eventually(
      async () => {
        for (const h of fab.hosts) {
          assert.equal(await established(h), 2, `${h.name} sessions`);
          if (options.bfd) {
            const bfd = parseBfdSessions((await h.bird!.command('show bfd sessions')).text);
            assert.equal(bfd.filter((s) => s.state === 'Up').length, 2, `${h.name} BFD: ${JSON.stringify(bfd)}`);
          }
          for (const other of fab.hosts) {
            if (other !== h) assert.equal((await routeTo(h, other.block))?.gateway, other.ip);
          }
        }
      },
      { timeoutMs: 30_000, intervalMs: 50 },
    );
  }

  /** The last error BIRD on `h` records for its session with `peer` (`BFD session down` when BFD ended it). */
  async function lastErrorWith(h: TestHost, peer: TestHost): Promise<string | undefined> {
    return bgpPeers(parseProtocols((await h.bird!.command('show protocols all')).text)).find((p) => p.address === peer.ip)?.lastError;
  }

  async function useBfd(mode: BfdAnnotation): Promise<void> {
    const snapshot = snapshotWith(mode);
    for (const h of fab.hosts) await h.bird!.apply(configFor(h, snapshot));
    await allUp({ bfd: mode !== 'false' });
  }

  /**
   * Takes h3's fabric link down, measures how long until h1 and h2 drop its block (up to
   * `waitMs`), runs `whileDown`, restores the link.
   */
  async function linkDown(waitMs: number, whileDown?: () => Promise<void>): Promise<(number | undefined)[]> {
    const watches = await Promise.all([RouteWatch.start(h1.ns.name), RouteWatch.start(h2.ns.name)]);
    try {
      const t0 = Date.now();
      await run('ip', ['-n', fab.fabric.name, 'link', 'set', h3.port, 'down']);
      await eventually(() => watches.every((w) => w.deletedAt(h3.block, t0) !== undefined) || Date.now() - t0 > waitMs, { timeoutMs: waitMs + 1000, intervalMs: 10 });
      await whileDown?.();
      return watches.map((w) => {
        const at = w.deletedAt(h3.block, t0);
        return at === undefined ? undefined : at - t0;
      });
    } finally {
      for (const w of watches) w.stop();
      await run('ip', ['-n', fab.fabric.name, 'link', 'set', h3.port, 'up']);
    }
  }

  /** Runs a 10 ms ping flow h1 pod → h3 pod while `during` runs; returns sent and received. */
  async function pingFlowDuring(count: number, during: () => Promise<void>): Promise<{ sent: number; received: number; output: string }> {
    const flow = h1.ns.exec('ping', ['-i', '0.01', '-c', String(count), '-W', '1', '-I', h1.podIp, h3.podIp], { allowFail: true, timeoutMs: 60_000 });
    await new Promise((r) => setTimeout(r, 500));
    await during();
    const res = await flow;
    const m = /(\d+) packets transmitted, (\d+) received/.exec(res.stdout);
    assert.ok(m, res.stdout + res.stderr);
    return { sent: Number(m[1]), received: Number(m[2]), output: res.stdout.trim().split('\n').slice(-2).join(' | ') };
  }

  before(async () => {
    fab = await createFabric(3);
    [h1, h2, h3] = fab.hosts as [TestHost, TestHost, TestHost];
    const snapshot = snapshotWith('true');
    await Promise.all(fab.hosts.map((h) => startBird(h, configFor(h, snapshot))));
    await allUp({ bfd: true });
  });
  after(async () => fab?.destroy());

  it('margay node status shows the BFD state of each peer and the BFD sessions', async () => {
    const run = await margay(['node', 'status', '--netns', h1.ns.name]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /\| 192\.0\.2\.12 +\| node-to-node mesh \| up +\| [0-9:]+ +\| Established \| Up +\|/);
    assert.match(run.stdout, /\| 192\.0\.2\.13 +\| --- +\| Up +\| [0-9:]+ +\| 100ms +\| 300ms +\|/);
  });

  it('BFD: a host whose link dies loses its routes on the others, taken down by BFD', async () => {
    const delays = await linkDown(3000, async () => {
      // Read while the link is still down: the cause, not the time, is what BFD changes.
      for (const h of [h1, h2]) assert.match((await lastErrorWith(h, h3)) ?? '', /BFD session down/, `${h.name}'s session with h3`);
    });
    console.log(`# BFD 100 ms x 3: h3's block withdrawn from h1 after ${delays[0]} ms, from h2 after ${delays[1]} ms (link down)`);
    for (const d of delays) assert.ok(d !== undefined, 'route withdrawn while the link was down');
    await allUp({ bfd: true });
  });

  it('BFD: a killed BIRD (host still forwarding) is detected as well, and the supervisor brings it back', async () => {
    const watch = await RouteWatch.start(h1.ns.name);
    try {
      const pid = h3.bird!.pid!;
      const t0 = Date.now();
      process.kill(pid, 'SIGKILL');
      await eventually(() => watch.deletedAt(h3.block, t0) !== undefined, { timeoutMs: 3000, intervalMs: 10 });
      const withdrawn = watch.deletedAt(h3.block, t0)! - t0;
      assert.match((await lastErrorWith(h1, h3)) ?? '', /BFD session down/, "h1's session with h3 ended by BFD, not by the hold timer");
      await eventually(async () => assert.notEqual(h3.bird!.pid, undefined), { timeoutMs: 5000 });
      assert.notEqual(h3.bird!.pid, pid);
      await allUp({ bfd: true });
      const back = Date.now() - t0;
      console.log(`# BFD: BIRD on h3 SIGKILLed: its block withdrawn from h1 after ${withdrawn} ms; supervisor restarted BIRD (-R) and routes were back after ${back} ms`);
      assert.ok(h3.events.some((e) => e.type === 'started' && e.recovery), 'restarted in graceful-restart recovery mode');
    } finally {
      watch.stop();
    }
  });

  it('without BFD, a dead link keeps the routes (hold timer, 240 s)', async () => {
    await useBfd('false');
    const delays = await linkDown(3000);
    console.log(`# no BFD: h3's block still in h1's and h2's kernels 3000 ms after its link went down (${JSON.stringify(delays)})`);
    assert.deepEqual(delays, [undefined, undefined]);
    assert.equal((await routeTo(h1, h3.block))?.gateway, h3.ip);
    await allUp({ bfd: false });
  });

  it('graceful restart of BIRD loses no packet of an established flow (BFD graceful)', async () => {
    await useBfd('graceful');
    const watches = await Promise.all([RouteWatch.start(h1.ns.name), RouteWatch.start(h3.ns.name)]);
    let restartedAt = 0;
    let upAgainMs = 0;
    try {
      const flow = await pingFlowDuring(600, async () => {
        restartedAt = Date.now();
        await h3.bird!.restart({ graceful: true });
        await eventually(async () => assert.equal(await established(h3), 2), { timeoutMs: 30_000, intervalMs: 20 });
        upAgainMs = Date.now() - restartedAt;
      });
      console.log(`# graceful restart (BFD graceful): ${flow.sent} pings at 10 ms, ${flow.sent - flow.received} lost; h3's sessions back ${upAgainMs} ms after the restart began`);
      assert.equal(flow.received, flow.sent, flow.output);
      assert.deepEqual(watches[0]!.of(h3.block).filter((e) => e.deleted), [], "h1 never dropped h3's block");
      assert.deepEqual(watches[1]!.of(h1.block).filter((e) => e.deleted), [], "h3's kernel kept h1's block (persist)");
    } finally {
      for (const w of watches) w.stop();
    }
    assert.ok(restartedAt > 0, 'restart ran');
  });

  it('graceful restart with BFD `true`: BIRD cannot keep BFD up across its own restart, so the peers drop its block for a while', async () => {
    await useBfd('true');
    const watch = await RouteWatch.start(h1.ns.name);
    try {
      const flow = await pingFlowDuring(600, async () => {
        await h3.bird!.restart({ graceful: true });
      });
      await allUp({ bfd: true });
      const events = watch.of(h3.block);
      const del = events.find((e) => e.deleted);
      const add = events.find((e) => !e.deleted && del && e.at >= del.at);
      console.log(
        `# graceful restart with BFD true: ${flow.sent - flow.received} of ${flow.sent} pings lost; h1 dropped h3's block for ${del && add ? add.at - del.at : 'n/a'} ms`,
      );
      assert.ok(del, "h1 dropped h3's block: BFD went down with BIRD, graceful restart or not");
      assert.ok(add, 'and learned it again once h3 was back');
    } finally {
      watch.stop();
    }
  });
});
