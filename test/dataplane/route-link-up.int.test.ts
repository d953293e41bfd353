// A workload route whose interface is down, in a throwaway namespace: the kernel refuses it
// ("Device for nexthop is not up", "Nexthop device is not up"), the dataplane keeps it pending (not
// a failed apply) and programs it once the interface is up: at once when it watches links (an
// OpenStack host), at the next apply otherwise. The kernel also drops our routes when their
// interface goes down: they come back when it is up again.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DataplaneUpdate } from '../../src/calc/model.ts';
import { Dataplane } from '../../src/dataplane/mod.ts';
import { createTestNetns, run, type TestNetns } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { IN_SYNC, settings, workloadRoute } from './updates.ts';

const V4 = '10.244.7.5';
const V6 = 'fd00:10:244::7:5';

describe('dataplane - a route to an interface that is down', () => {
  let host: TestNetns;
  let seq = 0;

  before(async () => {
    host = await createTestNetns();
  });
  after(async () => {
    await host?.delete();
  });

  /** Our routes (protocol 77) in the namespace, as `<dst> <dev>`, both families. */
  async function ourRoutes(): Promise<string[]> {
    const out: string[] = [];
    for (const family of ['-4', '-6']) {
      const res = await run('ip', ['-n', host.name, family, '-j', 'route', 'show', 'table', 'main', 'proto', '77']);
      for (const r of JSON.parse(res.stdout || '[]') as Array<{ dst: string; dev?: string }>) out.push(`${r.dst} ${r.dev ?? '-'}`);
    }
    return out.sort();
  }

  /** A veth in the namespace, both ends down (as the CNI or a hypervisor makes it, before `up`). */
  async function downVeth(): Promise<string> {
    const name = `calidown${seq++}`;
    await run('ip', ['-n', host.name, 'link', 'add', name, 'type', 'veth', 'peer', 'name', `${name}p`]);
    return name;
  }

  const link = (name: string, state: 'up' | 'down') => run('ip', ['-n', host.name, 'link', 'set', name, state]);

  function routesVia(iface: string): DataplaneUpdate[] {
    return [settings({ interfacePrefixes: ['cali'] }), workloadRoute(`${V4}/32`, iface), workloadRoute(`${V6}/128`, iface), IN_SYNC];
  }

  /** Applies routes through a down interface and checks they are pending: refused, reported, not a failure. */
  async function applyPending(dp: Dataplane, iface: string): Promise<void> {
    const res = await dp.apply(routesVia(iface));
    assert.equal(res.ok, true, `a route to a down interface is pending, not a failed apply: ${JSON.stringify(res.routes.errors)}`);
    assert.deepEqual(res.routes.errors.map((e) => e.dst).sort(), [`${V4}/32`, `${V6}/128`]);
    for (const e of res.routes.errors) assert.match(e.message, /Device for nexthop is not up|Nexthop device is not up/);
    assert.equal(dp.stats().routeErrors, 2, 'one error per route, not one per try');
    assert.deepEqual(await ourRoutes(), []);
    // Still pending on the next apply, once per route (no pile-up of retries), and no crash.
    const again = await dp.apply([]);
    assert.equal(again.ok, true);
    assert.equal(again.routes.errors.length, 2, JSON.stringify(again.routes.errors));
    assert.deepEqual(await ourRoutes(), []);
  }

  const want = (iface: string) => [`${V4} ${iface}`, `${V6} ${iface}`].sort();

  it('watching links: a pending route is programmed as soon as its interface comes up', async () => {
    const iface = await downVeth();
    // The netlink helper only carries nftables batches: routes go through `ip -batch` either way.
    const dp = new Dataplane({ netns: host.name, watchLinks: true, netlinkHelper: false });
    try {
      await applyPending(dp, iface);
      await link(iface, 'up'); // its peer stays down (no carrier): the kernel takes the route anyway
      await eventually(async () => assert.deepEqual(await ourRoutes(), want(iface)), { timeoutMs: 15_000, what: 'the routes after the link came up' });
      // Nothing is pending any more: the next apply has no route work left.
      const after = await dp.apply([]);
      assert.equal(after.ok, true);
      assert.deepEqual([after.routes.added, after.routes.errors.length], [0, 0]);
    } finally {
      dp.close();
      await run('ip', ['-n', host.name, 'link', 'del', iface], { allowFail: true });
    }
  });

  it('not watching links (the default): the pending route is programmed by the next apply once its interface is up', async () => {
    const iface = await downVeth();
    const dp = new Dataplane({ netns: host.name, netlinkHelper: false });
    try {
      await applyPending(dp, iface);
      await link(iface, 'up');
      const res = await dp.apply([]);
      assert.equal(res.ok, true, JSON.stringify(res.routes.errors));
      assert.deepEqual([res.routes.added, res.routes.errors.length], [2, 0]);
      assert.deepEqual(await ourRoutes(), want(iface));
    } finally {
      dp.close();
      await run('ip', ['-n', host.name, 'link', 'del', iface], { allowFail: true });
    }
  });

  it('watching links: routes the kernel dropped when their interface went down come back when it is up again', async () => {
    const iface = await downVeth();
    await link(iface, 'up');
    const dp = new Dataplane({ netns: host.name, watchLinks: true, netlinkHelper: false });
    try {
      const res = await dp.apply(routesVia(iface));
      assert.equal(res.ok, true, JSON.stringify(res.routes.errors));
      assert.deepEqual(await ourRoutes(), want(iface));
      await link(iface, 'down');
      await eventually(async () => assert.deepEqual(await ourRoutes(), []), { what: 'the kernel dropping the routes of a down interface' });
      await link(iface, 'up');
      await eventually(async () => assert.deepEqual(await ourRoutes(), want(iface)), { timeoutMs: 15_000, what: 'the routes after the link came up again' });
    } finally {
      dp.close();
      await run('ip', ['-n', host.name, 'link', 'del', iface], { allowFail: true });
    }
  });
});
