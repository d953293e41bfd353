import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { watchPrefix } from '../../src/datastore/syncer.ts';
import { hasCode } from '../../src/errors/mod.ts';
import { useEtcd } from '../harness/etcd.ts';
import { startTcpProxy } from '../harness/tcp-proxy.ts';
import { eventually } from '../harness/wait.ts';
import { Mirror } from './mirror.ts';

const fast = { initialBackoffMs: 50, maxBackoffMs: 500 };
const slow = { timeout: 60_000 };

describe('syncer - real etcd', () => {
  const fixture = useEtcd();

  it('delivers a snapshot, in-sync, then deltas', slow, async () => {
    const ds = new EtcdDatastore({ endpoints: fixture.etcd.endpoints });
    await ds.put('/s1/a', '1');
    await ds.put('/s1/b', '2');
    const mirror = new Mirror();
    const syncer = watchPrefix(ds, '/s1/', mirror.handle, fast);
    await eventually(() => mirror.inSyncCount === 1);
    assert.deepEqual(mirror.changes(), [
      ['update', '/s1/a', '1'],
      ['update', '/s1/b', '2'],
    ]);
    const mark = mirror.events.length;
    await ds.delete('/s1/a');
    await ds.put('/s1/c', '3');
    await ds.txn([
      { op: 'put', key: '/s1/b', value: '22' },
      { op: 'create', key: '/s1/d', value: '4' },
    ]);
    await eventually(() => mirror.changes(mark).length === 4);
    assert.deepEqual(mirror.changes(mark), [
      ['delete', '/s1/a', undefined],
      ['update', '/s1/c', '3'],
      ['update', '/s1/b', '22'],
      ['update', '/s1/d', '4'],
    ]);
    mirror.assertEquals((await ds.list('/s1/')).items);
    await syncer.stop();
    await ds.close();
  });

  for (const how of ['stop', 'kill'] as const) {
    it(`survives an etcd restart (${how}): resumes with no spurious deletes and sees every change`, slow, async () => {
      const etcd = fixture.etcd;
      const ds = new EtcdDatastore({ endpoints: etcd.endpoints, dialTimeoutMs: 2000 });
      const prefix = `/restart-${how}/`;
      for (const k of ['a', 'b', 'c']) await ds.put(`${prefix}${k}`, `${k}1`);
      const mirror = new Mirror();
      const syncer = watchPrefix(ds, prefix, mirror.handle, fast);
      await eventually(() => mirror.inSyncCount === 1);
      await ds.put(`${prefix}a`, 'a2');
      await eventually(() => mirror.kvs.get(`${prefix}a`)?.value === 'a2');
      const mark = mirror.events.length;

      await (how === 'stop' ? etcd.stop() : etcd.kill());
      await eventually(() => syncer.state === 'disconnected', { timeoutMs: 15_000 });
      await sleep(300); // a few failed reconnects while etcd is down
      await etcd.restart();

      const writer = new EtcdDatastore({ endpoints: etcd.endpoints });
      await writer.put(`${prefix}b`, 'b2');
      await writer.delete(`${prefix}c`);
      await writer.put(`${prefix}d`, 'd1');
      await eventually(() => mirror.changes(mark).length === 3, { timeoutMs: 30_000 });
      await sleep(200);
      assert.deepEqual(mirror.changes(mark), [
        ['update', `${prefix}b`, 'b2'],
        ['delete', `${prefix}c`, undefined],
        ['update', `${prefix}d`, 'd1'],
      ]);
      const states = mirror.states;
      assert.deepEqual(states.slice(0, 3), ['resyncing', 'in-sync', 'disconnected']);
      assert.equal(states.at(-1), 'in-sync');
      assert.ok(!states.slice(2).includes('resyncing'), `resumed without a re-list: ${states.join(' → ')}`);
      mirror.assertEquals((await writer.list(prefix)).items);
      await syncer.stop();
      await writer.close();
      await ds.close();
    });
  }

  it('after a compaction during a partition, re-lists and delivers exactly the difference', slow, async () => {
    const etcd = fixture.etcd;
    const port = Number(new URL(etcd.endpoint).port);
    const proxy = await startTcpProxy(port);
    const ds = new EtcdDatastore({ endpoints: [proxy.endpoint], dialTimeoutMs: 2000 });
    const writer = new EtcdDatastore({ endpoints: etcd.endpoints });
    const p = '/compact/';
    for (const k of ['a', 'b', 'c', 'same']) await writer.put(`${p}${k}`, `${k}1`);
    const mirror = new Mirror();
    const syncer = watchPrefix(ds, p, mirror.handle, fast);
    await eventually(() => mirror.inSyncCount === 1);
    const mark = mirror.events.length;

    proxy.cut();
    await eventually(() => syncer.state === 'disconnected', { timeoutMs: 15_000 });
    await writer.put(`${p}a`, 'a2');
    await writer.put(`${p}a`, 'a3');
    await writer.delete(`${p}b`);
    await writer.delete(`${p}c`);
    await writer.put(`${p}c`, 'c-recreated');
    await writer.put(`${p}new`, 'n');
    await writer.put(`${p}flash`, 'f');
    await writer.delete(`${p}flash`);
    await writer.put('/elsewhere/x', 'not watched');
    await writer.compact(await writer.currentRevision());
    proxy.heal();

    await eventually(() => mirror.states.at(-1) === 'in-sync' && mirror.states.includes('resyncing', 1), {
      timeoutMs: 30_000,
    });
    await sleep(200);
    assert.deepEqual(mirror.changes(mark), [
      ['update', `${p}a`, 'a3'],
      ['update', `${p}c`, 'c-recreated'],
      ['update', `${p}new`, 'n'],
      ['delete', `${p}b`, undefined],
    ]);
    const resync = mirror.events.find((e) => e.type === 'status' && e.state === 'resyncing' && e.error);
    assert.ok(resync?.type === 'status' && hasCode(resync.error, 'MARGAY_ERR_COMPACTED'));
    assert.equal(mirror.inSyncCount, 1);
    mirror.assertEquals((await writer.list(p)).items);

    const mark2 = mirror.events.length;
    await writer.put(`${p}after`, 'x');
    await eventually(() => mirror.changes(mark2).length === 1);
    await syncer.stop();
    await writer.close();
    await ds.close();
    await proxy.close();
  });

  it('stop() while etcd is unreachable returns promptly', slow, async () => {
    const proxy = await startTcpProxy(Number(new URL(fixture.etcd.endpoint).port));
    proxy.cut();
    const ds = new EtcdDatastore({ endpoints: [proxy.endpoint], dialTimeoutMs: 1000 });
    const mirror = new Mirror();
    // A backoff of ten minutes: a stop() that waited for it would run into the test's timeout.
    const syncer = watchPrefix(ds, '/unreachable/', mirror.handle, { initialBackoffMs: 600_000 });
    await eventually(() => syncer.state === 'disconnected', { timeoutMs: 15_000 });
    await syncer.stop();
    await syncer.done.catch(() => undefined);
    assert.equal(mirror.changes(0).length, 0, 'nothing delivered from an unreachable etcd');
    await ds.close();
    await proxy.close();
  });
});
