import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Datastore, ListPagesOptions, PageHandler } from '../../src/datastore/datastore.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { Syncer, watchPrefix, type SyncerEvent } from '../../src/datastore/syncer.ts';
import { hasCode, MargayError } from '../../src/errors/mod.ts';
import { eventually } from '../harness/wait.ts';
import { FaultyDatastore } from './faulty.ts';
import { Mirror } from './mirror.ts';

const fast = { initialBackoffMs: 5, maxBackoffMs: 20 };

/** Lists in pages of two keys, as etcd with a small page size; `beforePage(n)` runs before page n (1-based) is read. */
class Paged extends FaultyDatastore {
  pagesRead = 0;
  constructor(
    inner: MemoryDatastore,
    readonly beforePage: (n: number) => Promise<void> = async () => {},
  ) {
    super(inner, () => undefined);
  }
  override async listPages(prefix: string, onPage: PageHandler, options?: ListPagesOptions): Promise<number> {
    let items: Parameters<PageHandler>[0] = [];
    const revision = await this.inner.listPages(prefix, (page) => void (items = page), options);
    for (let at = 0; at < items.length; at += 2) {
      await this.beforePage(++this.pagesRead);
      await onPage(items.slice(at, at + 2), revision);
    }
    return revision;
  }
}

function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

describe('syncer - memory datastore', () => {
  it('delivers a snapshot, one in-sync marker, then deltas', async () => {
    const ds = new MemoryDatastore();
    await ds.put('/r/b', '2');
    await ds.put('/r/a', '1');
    await ds.put('/other', 'not mine');
    const mirror = new Mirror();
    const syncer = watchPrefix(ds, '/r/', mirror.handle, fast);
    await eventually(() => mirror.inSyncCount === 1);
    assert.deepEqual(mirror.events.slice(0, 5), [
      { type: 'status', state: 'resyncing' },
      { type: 'update', kv: { key: '/r/a', value: '1', modRevision: 3, createRevision: 3 } },
      { type: 'update', kv: { key: '/r/b', value: '2', modRevision: 2, createRevision: 2 } },
      { type: 'in-sync' },
      { type: 'status', state: 'in-sync' },
    ]);
    assert.equal(syncer.revision, 4);
    assert.ok(syncer.inSync);
    const mark = mirror.events.length;
    await ds.put('/r/c', '3');
    await ds.delete('/r/a');
    await ds.put('/r/b', '22');
    await ds.put('/elsewhere', 'x');
    await eventually(() => mirror.events.length === mark + 3);
    assert.deepEqual(mirror.changes(mark), [
      ['update', '/r/c', '3'],
      ['delete', '/r/a', undefined],
      ['update', '/r/b', '22'],
    ]);
    const del = mirror.events[mark + 1] as Extract<SyncerEvent, { type: 'delete' }>;
    assert.equal(del.revision, 6);
    await syncer.stop();
    mirror.stopped = true;
    mirror.assertEquals((await ds.list('/r/')).items);
    await ds.put('/r/late', 'after stop');
    await sleep(10);
    await ds.close();
  });

  it('delivers a first listing page by page as it is read, all before in-sync', async () => {
    const inner = new MemoryDatastore();
    for (const k of ['e', 'c', 'a', 'd', 'b']) await inner.put(`/r/${k}`, k);
    const mirror = new Mirror();
    const syncer = watchPrefix(new Paged(inner), '/r/', mirror.handle, fast);
    await eventually(() => mirror.inSyncCount === 1);
    const keys = (batch: SyncerEvent[]): string[] => batch.map((e) => (e.type === 'update' ? e.kv.key.slice(3) : e.type === 'status' ? `status ${e.state}` : e.type));
    assert.deepEqual(mirror.batches.map(keys), [['status resyncing'], ['a', 'b'], ['c', 'd'], ['e'], ['in-sync', 'status in-sync']]);
    assert.equal(syncer.revision, await inner.currentRevision());
    await inner.put('/r/f', 'f');
    await eventually(() => mirror.kvs.has('/r/f'));
    await syncer.stop();
    mirror.assertEquals((await inner.list('/r/')).items);
    await inner.close();
  });

  it('a first listing cut off after some pages: the next listing delivers only the difference, in-sync once', async () => {
    const inner = new MemoryDatastore();
    const writer = inner.peer();
    for (const k of ['a', 'b', 'c', 'd', 'e']) await inner.put(`/r/${k}`, k);
    let cut = false;
    const paged = new Paged(inner, async (n) => {
      if (n !== 2 || cut) return;
      cut = true;
      // Meanwhile a delivered key changes, another goes, a new one comes.
      await writer.put('/r/a', 'a2');
      await writer.delete('/r/b');
      await writer.put('/r/f', 'f');
      throw new MargayError('MARGAY_ERR_DATASTORE_UNAVAILABLE', 'connection lost (injected)');
    });
    const mirror = new Mirror();
    const syncer = watchPrefix(paged, '/r/', mirror.handle, fast);
    await eventually(() => mirror.inSyncCount === 1);
    assert.deepEqual(mirror.changes(), [
      ['update', '/r/a', 'a'],
      ['update', '/r/b', 'b'],
      // The listing after the outage, as a difference from what was delivered.
      ['update', '/r/a', 'a2'],
      ['update', '/r/c', 'c'],
      ['update', '/r/d', 'd'],
      ['update', '/r/e', 'e'],
      ['update', '/r/f', 'f'],
      ['delete', '/r/b', undefined],
    ]);
    assert.deepEqual(mirror.states, ['resyncing', 'disconnected', 'resyncing', 'in-sync']);
    await syncer.stop();
    mirror.assertEquals((await inner.list('/r/')).items);
    await inner.close();
  });

  it('an empty prefix still reports in-sync', async () => {
    const ds = new MemoryDatastore();
    const mirror = new Mirror();
    const syncer = watchPrefix(ds, '/empty/', mirror.handle, fast);
    await eventually(() => mirror.inSyncCount === 1);
    assert.deepEqual(mirror.states, ['resyncing', 'in-sync']);
    await syncer.stop();
    await ds.close();
  });

  it('resumes after an outage from the last revision: every missed change once, nothing else', async () => {
    const ds = new MemoryDatastore();
    const writer = ds.peer();
    await writer.put('/r/a', '1');
    await writer.put('/r/b', '2');
    await writer.put('/r/c', '3');
    const mirror = new Mirror();
    const errors: string[] = [];
    const syncer = watchPrefix(ds, '/r/', mirror.handle, { ...fast, onError: (e) => errors.push(e.code) });
    await eventually(() => mirror.inSyncCount === 1);
    const mark = mirror.events.length;
    ds.setReachable(false);
    await eventually(() => syncer.state === 'disconnected');
    await writer.put('/r/a', '1b');
    await writer.delete('/r/b');
    await writer.put('/r/d', '4');
    await writer.put('/r/tmp', 'x');
    await writer.delete('/r/tmp');
    await sleep(30); // a few failed retries
    ds.setReachable(true);
    await eventually(() => mirror.changes(mark).length === 5);
    await sleep(20);
    assert.deepEqual(mirror.changes(mark), [
      ['update', '/r/a', '1b'],
      ['delete', '/r/b', undefined],
      ['update', '/r/d', '4'],
      ['update', '/r/tmp', 'x'],
      ['delete', '/r/tmp', undefined],
    ]);
    assert.deepEqual(mirror.states, ['resyncing', 'in-sync', 'disconnected', 'in-sync']);
    const disconnected = mirror.events.find((e) => e.type === 'status' && e.state === 'disconnected');
    assert.ok(disconnected?.type === 'status' && hasCode(disconnected.error, 'MARGAY_ERR_DATASTORE_UNAVAILABLE'));
    assert.ok(errors.length >= 1 && errors.every((c) => c === 'MARGAY_ERR_DATASTORE_UNAVAILABLE'));
    mirror.assertEquals((await ds.list('/r/')).items);
    await syncer.stop();
    await writer.close();
    await ds.close();
  });

  it('after compaction during an outage, re-lists and delivers exactly the difference', async () => {
    const ds = new MemoryDatastore();
    const writer = ds.peer();
    for (const k of ['a', 'b', 'c', 'same']) await writer.put(`/r/${k}`, `${k}1`);
    const mirror = new Mirror();
    const syncer = watchPrefix(ds, '/r/', mirror.handle, fast);
    await eventually(() => mirror.inSyncCount === 1);
    const mark = mirror.events.length;
    ds.setReachable(false);
    await eventually(() => syncer.state === 'disconnected');
    await writer.put('/r/a', 'a2'); // changed
    await writer.put('/r/a', 'a3'); // changed twice: one update with the latest value
    await writer.delete('/r/b'); // gone
    await writer.delete('/r/c');
    await writer.put('/r/c', 'c-recreated'); // deleted and re-created: an update, not a delete
    await writer.put('/r/new', 'n'); // new
    await writer.put('/r/flash', 'f');
    await writer.delete('/r/flash'); // came and went: nothing at all
    await writer.compact(await writer.currentRevision());
    ds.setReachable(true);
    await eventually(() => mirror.states.length === 6);
    await sleep(20);
    assert.deepEqual(mirror.states, ['resyncing', 'in-sync', 'disconnected', 'in-sync', 'resyncing', 'in-sync']);
    assert.deepEqual(mirror.changes(mark), [
      ['update', '/r/a', 'a3'],
      ['update', '/r/c', 'c-recreated'],
      ['update', '/r/new', 'n'],
      ['delete', '/r/b', undefined],
    ]);
    const resync = mirror.events.find((e) => e.type === 'status' && e.state === 'resyncing' && e.error);
    assert.ok(resync?.type === 'status' && hasCode(resync.error, 'MARGAY_ERR_COMPACTED'));
    assert.equal(mirror.inSyncCount, 1, 'the in-sync marker is not repeated');
    mirror.assertEquals((await ds.list('/r/')).items);
    // And it follows live changes again.
    const mark2 = mirror.events.length;
    await writer.put('/r/after', 'x');
    await eventually(() => mirror.changes(mark2).length === 1);
    await syncer.stop();
    await writer.close();
    await ds.close();
  });

  it('re-lists when the store comes back at an older revision (restored from a backup)', async () => {
    // A datastore whose backing store a test can swap, as when etcd is restored from a snapshot.
    const backup = new MemoryDatastore();
    await backup.put('/r/a', 'a-old');
    await backup.put('/r/b', 'b-old');
    const live = new MemoryDatastore();
    for (let i = 0; i < 20; i++) await live.put('/r/pad', String(i));
    await live.put('/r/a', 'a-new');
    await live.put('/r/c', 'c');
    let target: MemoryDatastore = live;
    const swappable: Datastore = {
      get: (k) => target.get(k),
      list: (p) => target.list(p),
      listPages: (p, f, o) => target.listPages(p, f, o),
      getMany: (r) => target.getMany(r),
      create: (k, v, o) => target.create(k, v, o),
      update: (k, v, r, o) => target.update(k, v, r, o),
      put: (k, v, o) => target.put(k, v, o),
      delete: (k, r) => target.delete(k, r),
      txn: (ops) => target.txn(ops),
      watch: (p, r) => target.watch(p, r),
      grantLease: (t) => target.grantLease(t),
      currentRevision: () => target.currentRevision(),
      close: async () => {},
    };
    const mirror = new Mirror({ allowRewind: true });
    const syncer = watchPrefix(swappable, '/r/', mirror.handle, fast);
    await eventually(() => mirror.inSyncCount === 1);
    const mark = mirror.events.length;
    live.setReachable(false);
    await eventually(() => syncer.state === 'disconnected');
    target = backup;
    await eventually(() => mirror.states.at(-1) === 'in-sync' && mirror.states.length === 5);
    assert.deepEqual(mirror.states, ['resyncing', 'in-sync', 'disconnected', 'resyncing', 'in-sync']);
    assert.deepEqual(mirror.changes(mark), [
      ['update', '/r/a', 'a-old'],
      ['update', '/r/b', 'b-old'],
      ['delete', '/r/c', undefined],
      ['delete', '/r/pad', undefined],
    ]);
    mirror.assertEquals((await backup.list('/r/')).items);
    const mark2 = mirror.events.length;
    await backup.put('/r/b', 'b-after');
    await eventually(() => mirror.changes(mark2).length === 1);
    await syncer.stop();
    await live.close();
    await backup.close();
  });

  it('stop() during backoff leaves no timers and no more deliveries', async () => {
    const ds = new MemoryDatastore();
    const timersBefore = activeTimers();
    const mirror = new Mirror();
    ds.setReachable(false);
    const syncer = watchPrefix(ds, '/r/', mirror.handle, { initialBackoffMs: 60_000 });
    await eventually(() => syncer.state === 'disconnected');
    assert.ok(activeTimers() > timersBefore, 'a retry timer is pending');
    await syncer.stop();
    mirror.stopped = true;
    assert.equal(activeTimers(), timersBefore);
    ds.setReachable(true);
    await ds.put('/r/x', '1');
    await sleep(10);
    await syncer.done;
    await ds.close();
  });

  it('stop() before start and twice is harmless', async () => {
    const ds = new MemoryDatastore();
    const syncer = new Syncer(ds, '/r/', () => {});
    await syncer.stop();
    await syncer.stop();
    syncer.start();
    await syncer.done;
    await ds.close();
  });

  it('stop() from inside the handler does not deadlock', async () => {
    const ds = new MemoryDatastore();
    await ds.put('/r/a', '1');
    let calls = 0;
    const syncer: Syncer = watchPrefix(ds, '/r/', async (events) => {
      calls++;
      if (events.some((e) => e.type === 'in-sync')) await syncer.stop();
    });
    await syncer.done;
    // resyncing; the listing's one page; in-sync (where it stops)
    assert.equal(calls, 3);
    await ds.close();
  });

  it('awaits an async handler before the next batch', async () => {
    const ds = new MemoryDatastore();
    let running = 0;
    let maxRunning = 0;
    const seen: string[] = [];
    const syncer = watchPrefix(ds, '/r/', async (events) => {
      running++;
      maxRunning = Math.max(maxRunning, running);
      await sleep(5);
      for (const e of events) if (e.type === 'update') seen.push(e.kv.value);
      running--;
    });
    await eventually(() => syncer.inSync);
    for (let i = 0; i < 5; i++) await ds.put('/r/k', String(i));
    await eventually(() => seen.length === 5);
    assert.equal(maxRunning, 1);
    assert.deepEqual(seen, ['0', '1', '2', '3', '4']);
    await syncer.stop();
    await ds.close();
  });

  it('a throwing handler stops the syncer and rejects done', async () => {
    const ds = new MemoryDatastore();
    await ds.put('/r/a', '1');
    const syncer = watchPrefix(ds, '/r/', (events) => {
      if (events.some((e) => e.type === 'update')) throw new Error('consumer bug');
    });
    await assert.rejects(syncer.done, /consumer bug/);
    await ds.close();
  });

  it('stays consistent through random writes, outages and compactions', async () => {
    let seed = 12345;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2 ** 31;
      return seed % n;
    };
    const ds = new MemoryDatastore();
    const writer = ds.peer();
    const mirror = new Mirror();
    const syncer = watchPrefix(ds, '/f/', mirror.handle, { initialBackoffMs: 1, maxBackoffMs: 2 });
    for (let step = 0; step < 600; step++) {
      const key = `/f/k${rand(12)}`;
      const dice = rand(100);
      if (dice < 50) await writer.put(key, `v${step}`);
      else if (dice < 75) await writer.delete(key).catch(() => {});
      else if (dice < 80) await writer.put(`/g/${step}`, 'outside');
      else if (dice < 85) {
        await writer.txn([
          { op: 'put', key: '/f/t1', value: `t${step}` },
          { op: 'put', key: '/f/t2', value: `t${step}` },
        ]);
      } else if (dice < 90) ds.setReachable(false);
      else if (dice < 95) ds.setReachable(true);
      else if (dice < 97) await writer.compact(await writer.currentRevision()).catch(() => {});
      if (rand(4) === 0) await sleep(1);
    }
    ds.setReachable(true);
    const final = await ds.list('/f/');
    await eventually(() => {
      mirror.assertEquals(final.items);
      return true;
    });
    assert.equal(mirror.inSyncCount, 1);
    const states = mirror.states;
    const outages = states.filter((s) => s === 'disconnected').length;
    const relists = states.filter((s) => s === 'resyncing').length - 1;
    assert.ok(outages > 0 && relists > 0, `the run exercised outages (${outages}) and re-lists (${relists})`);
    await syncer.stop();
    await writer.close();
    await ds.close();
  });
});
