/**
 * The Datastore contract: one suite that every backend must pass with identical results. Each
 * test works under its own key prefix, so the suite can share one store; revisions are checked
 * relative to the store's current revision.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Datastore, WatchEvent } from '../../src/datastore/datastore.ts';
import { hasCode } from '../../src/errors/mod.ts';
import type { ErrorCode } from '../../src/errors/codes.ts';
import { Collector, eventually } from '../harness/wait.ts';

/** What a backend supplies to the contract suite. */
export interface ContractFixture {
  /** The client under test. */
  ds: Datastore;
  /** A second client on the same store. */
  other: Datastore;
  /** Compacts the store's history up to `revision`. */
  compact(revision: number): Promise<void>;
  /** Lets time pass so that a lease of `ttlSeconds` granted just before expires. */
  letLeaseExpire(ttlSeconds: number): Promise<void>;
  close(): Promise<void>;
}

async function rejectsWith(promise: Promise<unknown>, code: ErrorCode, messagePart?: string): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(hasCode(err, code), `expected ${code}, got ${String(err)}`);
    if (messagePart) assert.match((err as Error).message, new RegExp(messagePart.replace(/[/.]/g, '\\$&')));
    return true;
  });
}

let prefixSeq = 0;
function freshPrefix(): string {
  return `/contract-${process.pid}-${Date.now().toString(36)}-${prefixSeq++}/`;
}

/** Registers the contract suite for one backend. */
export function datastoreContract(name: string, setup: () => Promise<ContractFixture>): void {
  describe(`datastore contract - ${name}`, () => {
    let fx: ContractFixture;
    let ds: Datastore;
    let p: string;
    before(async () => {
      fx = await setup();
      ds = fx.ds;
    });
    after(async () => {
      await fx?.close();
    });
    const test = (title: string, fn: () => Promise<void>, options: { timeout?: number } = {}): void => {
      it(title, { timeout: options.timeout ?? 30_000 }, async () => {
        p = freshPrefix();
        await fn();
      });
    };

    test('get of an absent key is undefined', async () => {
      assert.equal(await ds.get(`${p}nothing`), undefined);
    });

    test('put bumps the global revision by one and sets mod and create revisions', async () => {
      const before = await ds.currentRevision();
      const a = await ds.put(`${p}a`, 'one');
      assert.equal(a.modRevision, before + 1);
      assert.equal(a.createRevision, before + 1);
      assert.deepEqual(a, { key: `${p}a`, value: 'one', modRevision: before + 1, createRevision: before + 1 });
      const b = await ds.put(`${p}a`, 'two');
      assert.equal(b.modRevision, before + 2);
      assert.equal(b.createRevision, before + 1);
      assert.deepEqual(await ds.get(`${p}a`), b);
      assert.equal(await ds.currentRevision(), before + 2);
      assert.deepEqual(await fx.other.get(`${p}a`), b, 'a second client sees the same pair');
    });

    test('create refuses an existing key', async () => {
      const c = await ds.create(`${p}k`, 'v1');
      assert.equal(c.createRevision, c.modRevision);
      const rev = await ds.currentRevision();
      await rejectsWith(ds.create(`${p}k`, 'v2'), 'MARGAY_ERR_ALREADY_EXISTS', `${p}k`);
      assert.equal((await ds.get(`${p}k`))?.value, 'v1');
      assert.equal(await ds.currentRevision(), rev, 'a failed create writes nothing');
    });

    test('update is a compare-and-swap on modRevision', async () => {
      const c = await ds.create(`${p}k`, 'v1');
      const u = await ds.update(`${p}k`, 'v2', c.modRevision);
      assert.equal(u.value, 'v2');
      assert.equal(u.createRevision, c.createRevision);
      assert.ok(u.modRevision > c.modRevision);
      await rejectsWith(ds.update(`${p}k`, 'stale', c.modRevision), 'MARGAY_ERR_CONFLICT', `${p}k`);
      assert.equal((await ds.get(`${p}k`))?.value, 'v2');
      await rejectsWith(ds.update(`${p}absent`, 'x', c.modRevision), 'MARGAY_ERR_NOT_FOUND', `${p}absent`);
      await rejectsWith(ds.update(`${p}absent`, 'x', 0), 'MARGAY_ERR_NOT_FOUND');
      assert.equal(await ds.get(`${p}absent`), undefined, 'update with revision 0 never creates');
    });

    test('concurrent CAS updates: exactly one wins', async () => {
      const c = await ds.create(`${p}race`, '0');
      const results = await Promise.allSettled(
        [1, 2, 3, 4].map((i) => (i % 2 ? ds : fx.other).update(`${p}race`, String(i), c.modRevision)),
      );
      assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
      for (const r of results) if (r.status === 'rejected') assert.ok(hasCode(r.reason, 'MARGAY_ERR_CONFLICT'));
    });

    test('delete returns the deleted pair and honours modRevision', async () => {
      const c = await ds.create(`${p}k`, 'v1');
      await rejectsWith(ds.delete(`${p}k`, c.modRevision + 1000), 'MARGAY_ERR_CONFLICT');
      assert.ok(await ds.get(`${p}k`), 'a conflicting delete deletes nothing');
      const d = await ds.delete(`${p}k`, c.modRevision);
      assert.deepEqual(d, c);
      assert.equal(await ds.get(`${p}k`), undefined);
      await rejectsWith(ds.delete(`${p}k`), 'MARGAY_ERR_NOT_FOUND', `${p}k`);
      const again = await ds.create(`${p}k`, 'v2');
      assert.ok(again.createRevision > c.createRevision, 'a re-created key has a new create revision');
      const d2 = await ds.delete(`${p}k`);
      assert.equal(d2.value, 'v2');
    });

    test('list returns the prefix only, sorted by key, at one revision', async () => {
      await ds.put(`${p}b`, '2');
      await ds.put(`${p}a`, '1');
      await ds.put(`${p}c/d`, '3');
      await ds.put(`${p.slice(0, -1)}x`, 'sibling, not under the prefix');
      const res = await ds.list(p);
      assert.deepEqual(
        res.items.map((kv) => [kv.key, kv.value]),
        [
          [`${p}a`, '1'],
          [`${p}b`, '2'],
          [`${p}c/d`, '3'],
        ],
      );
      assert.equal(res.revision, await ds.currentRevision());
      const empty = await ds.list(`${p}none/`);
      assert.deepEqual(empty.items, []);
      assert.equal(empty.revision, res.revision);
    });

    test('listPages hands over the listing in key order, page by page, at one revision', async () => {
      for (const k of ['e', 'a', 'd', 'b', 'c']) await ds.put(`${p}${k}`, k);
      await ds.put(`${p.slice(0, -1)}x`, 'sibling, not under the prefix');
      const pages: { keys: string[]; revision: number }[] = [];
      const revision = await ds.listPages(p, (page, rev) => void pages.push({ keys: page.map((kv) => kv.key), revision: rev }));
      const listed = await ds.list(p);
      assert.equal(revision, listed.revision);
      assert.deepEqual(
        pages.flatMap((page) => page.keys),
        listed.items.map((kv) => kv.key),
      );
      for (const page of pages) assert.equal(page.revision, revision);
      // At the revision just read: the same pairs.
      const again: string[] = [];
      assert.equal(await ds.listPages(p, (page) => void again.push(...page.map((kv) => kv.key)), { revision }), revision);
      assert.deepEqual(again, listed.items.map((kv) => kv.key));
    });

    test('listPages rethrows what the page handler throws, and hands over no page after it', async () => {
      for (const k of ['a', 'b', 'c', 'd', 'e']) await ds.put(`${p}${k}`, k);
      const thrown = new Error('the consumer gave up');
      let pages = 0;
      await assert.rejects(
        ds.listPages(p, () => {
          pages++;
          throw thrown;
        }),
        (err: unknown) => err === thrown,
      );
      assert.equal(pages, 1);
    });

    test('getMany reads keys and prefixes in request order, at one revision', async () => {
      await ds.put(`${p}pools/b`, 'B');
      await ds.put(`${p}pools/a`, 'A');
      const cfg = await ds.put(`${p}config`, 'C');
      await ds.put(`${p}poolsx`, 'not under pools/');
      const res = await ds.getMany([{ key: `${p}config` }, { prefix: `${p}pools/` }, { key: `${p}absent` }, { prefix: `${p}none/` }]);
      assert.deepEqual(
        res.results.map((pairs) => pairs.map((kv) => [kv.key, kv.value])),
        [[[`${p}config`, 'C']], [[`${p}pools/a`, 'A'], [`${p}pools/b`, 'B']], [], []],
      );
      assert.equal(res.results[0]![0]!.modRevision, cfg.modRevision);
      assert.equal(res.results[0]![0]!.createRevision, cfg.createRevision);
      assert.equal(res.revision, await ds.currentRevision());
      assert.deepEqual(await ds.getMany([]), { results: [], revision: res.revision });
      await rejectsWith(ds.getMany([{ key: '' }]), 'MARGAY_ERR_DATASTORE_REJECTED');
      await assert.rejects(ds.getMany(Array.from({ length: 129 }, (_, i) => ({ key: `${p}k${i}` }))), /at most 128/);
    });

    test('txn applies every op at one revision', async () => {
      const a = await ds.create(`${p}a`, 'a1');
      await ds.create(`${p}d`, 'gone soon');
      const before = await ds.currentRevision();
      const rev = await ds.txn([
        { op: 'create', key: `${p}new`, value: 'n' },
        { op: 'update', key: `${p}a`, value: 'a2', modRevision: a.modRevision },
        { op: 'put', key: `${p}p`, value: 'p' },
        { op: 'delete', key: `${p}d` },
      ]);
      assert.equal(rev, before + 1);
      const list = await ds.list(p);
      assert.deepEqual(
        list.items.map((kv) => [kv.key, kv.value, kv.modRevision]),
        [
          [`${p}a`, 'a2', rev],
          [`${p}new`, 'n', rev],
          [`${p}p`, 'p', rev],
        ],
      );
    });

    test('txn is all-or-nothing and names the first failing op', async () => {
      const a = await ds.create(`${p}a`, 'a1');
      await ds.update(`${p}a`, 'a2', a.modRevision);
      await ds.create(`${p}exists`, 'e');
      const before = await ds.currentRevision();
      await rejectsWith(
        ds.txn([
          { op: 'create', key: `${p}new`, value: 'n' },
          { op: 'put', key: `${p}p`, value: 'p' },
          { op: 'update', key: `${p}a`, value: 'a3', modRevision: a.modRevision },
          { op: 'create', key: `${p}exists`, value: 'x' },
        ]),
        'MARGAY_ERR_CONFLICT',
        `${p}a`,
      );
      await rejectsWith(
        ds.txn([
          { op: 'delete', key: `${p}absent` },
          { op: 'create', key: `${p}exists`, value: 'x' },
        ]),
        'MARGAY_ERR_NOT_FOUND',
        `${p}absent`,
      );
      await rejectsWith(
        ds.txn([
          { op: 'put', key: `${p}p`, value: 'p' },
          { op: 'create', key: `${p}exists`, value: 'x' },
        ]),
        'MARGAY_ERR_ALREADY_EXISTS',
        `${p}exists`,
      );
      assert.equal(await ds.currentRevision(), before, 'failed transactions write nothing');
      assert.equal(await ds.get(`${p}new`), undefined);
      assert.equal(await ds.get(`${p}p`), undefined);
      assert.equal(await ds.txn([]), before, 'an empty transaction changes nothing');
      await rejectsWith(
        ds.txn([
          { op: 'put', key: `${p}dup`, value: '1' },
          { op: 'put', key: `${p}dup`, value: '2' },
        ]),
        'MARGAY_ERR_DATASTORE_REJECTED',
      );
    });

    test('watch replays from a past revision, then follows live, in revision order', async () => {
      await ds.put(`${p}a`, '1');
      const b = await ds.put(`${p}b`, '2');
      await ds.put(`${p}c`, '3');
      await ds.put(`${p.slice(0, -1)}zz`, 'outside the prefix');
      const watch = ds.watch(p, b.modRevision, { deletedValues: true });
      const got = new Collector<WatchEvent>(watch.events);
      await got.waitFor(2);
      await fx.other.delete(`${p}a`);
      const a2 = await ds.txn([
        { op: 'put', key: `${p}t1`, value: 'x' },
        { op: 'put', key: `${p}t2`, value: 'y' },
      ]);
      const events = await got.waitFor(5);
      assert.deepEqual(
        events.map((e) => [e.type, e.key.slice(p.length), e.value]),
        [
          ['put', 'b', '2'],
          ['put', 'c', '3'],
          ['delete', 'a', '1'],
          ['put', 't1', 'x'],
          ['put', 't2', 'y'],
        ],
      );
      const revs = events.map((e) => e.modRevision);
      assert.deepEqual([...revs].sort((x, y) => x - y), revs, 'events come in revision order');
      assert.equal(events[0]!.modRevision, b.modRevision);
      assert.equal(events[3]!.modRevision, a2);
      assert.equal(events[4]!.modRevision, a2, 'a transaction is one revision');
      assert.equal(events[0]!.createRevision, b.createRevision);
      await watch.cancel();
      assert.equal(await got.waitEnd(), undefined, 'cancel ends the iteration without error');
      assert.equal(got.items.length, 5);
    });

    test('a watch not asking for deleted values gets deletes without the old value (replayed and live)', async () => {
      const a = await ds.put(`${p}gone1`, 'old1');
      await ds.delete(`${p}gone1`);
      const watch = ds.watch(p, a.modRevision);
      const got = new Collector<WatchEvent>(watch.events);
      await got.waitFor(2);
      await ds.put(`${p}gone2`, 'old2');
      await ds.delete(`${p}gone2`);
      const events = await got.waitFor(4);
      assert.deepEqual(
        events.map((e) => [e.type, e.key.slice(p.length), e.value]),
        [
          ['put', 'gone1', 'old1'],
          ['delete', 'gone1', undefined],
          ['put', 'gone2', 'old2'],
          ['delete', 'gone2', undefined],
        ],
      );
      await watch.cancel();
    });

    test('watch from the next revision, or from 0, sees only new writes', async () => {
      const rev = await ds.currentRevision();
      await ds.put(`${p}old`, 'o');
      const watch = ds.watch(p, rev + 2);
      const got = new Collector<WatchEvent>(watch.events);
      const fromNow = ds.watch(p, 0);
      const gotNow = new Collector<WatchEvent>(fromNow.events);
      await new Promise((resolve) => setTimeout(resolve, 100)); // let the etcd watch be created
      await ds.put(`${p}new`, 'n');
      assert.deepEqual((await got.waitFor(1)).map((e) => e.key), [`${p}new`]);
      assert.deepEqual((await gotNow.waitFor(1)).map((e) => e.key), [`${p}new`]);
      await watch.cancel();
      await fromNow.cancel();
      await got.waitEnd();
      await gotNow.waitEnd();
      assert.equal(got.items.length + gotNow.items.length, 2);
    });

    test('a watch from a compacted revision ends with MARGAY_ERR_COMPACTED', async () => {
      const first = await ds.put(`${p}a`, '1');
      await ds.put(`${p}a`, '2');
      const last = await ds.put(`${p}a`, '3');
      await rejectsWith(fx.compact(last.modRevision + 1000), 'MARGAY_ERR_DATASTORE_REJECTED');
      await fx.compact(last.modRevision);
      await rejectsWith(fx.compact(first.modRevision), 'MARGAY_ERR_COMPACTED');
      const watch = ds.watch(p, first.modRevision);
      const got = new Collector<WatchEvent>(watch.events);
      const err = await got.waitEnd();
      assert.ok(hasCode(err, 'MARGAY_ERR_COMPACTED'), `got ${String(err)}`);
      // From the compact revision itself history is still there.
      const ok = ds.watch(p, last.modRevision);
      const got2 = new Collector<WatchEvent>(ok.events);
      const events = await got2.waitFor(1);
      assert.deepEqual(events.map((e) => [e.key, e.value]), [[`${p}a`, '3']]);
      await ok.cancel();
      await got2.waitEnd();
    });

    test('leases: keys carry the lease, revoke deletes them, a dead lease is refused', async () => {
      const lease = await ds.grantLease(30);
      assert.equal(typeof lease.id, 'string');
      const watch = ds.watch(p, (await ds.currentRevision()) + 1);
      const got = new Collector<WatchEvent>(watch.events);
      const k = await ds.create(`${p}leased`, 'alive', { lease: lease.id });
      assert.equal(k.lease, lease.id);
      assert.equal((await ds.get(`${p}leased`))?.lease, lease.id);
      await ds.put(`${p}leased2`, 'alive', { lease: lease.id });
      await ds.put(`${p}detached`, 'alive', { lease: lease.id });
      const plain = await ds.put(`${p}detached`, 'no lease now');
      assert.equal(plain.lease, undefined, 'a write without a lease detaches the key');
      await lease.keepAliveOnce();
      await lease.revoke();
      await lease.revoke(); // idempotent
      assert.equal(await ds.get(`${p}leased`), undefined);
      assert.equal(await ds.get(`${p}leased2`), undefined);
      assert.equal((await ds.get(`${p}detached`))?.value, 'no lease now');
      const events = await got.waitFor(6);
      const deletes = events.filter((e) => e.type === 'delete');
      assert.deepEqual(deletes.map((e) => e.key).sort(), [`${p}leased`, `${p}leased2`]);
      assert.equal(deletes[0]!.modRevision, deletes[1]!.modRevision, 'a revoke deletes its keys in one revision');
      await rejectsWith(lease.keepAliveOnce(), 'MARGAY_ERR_LEASE');
      await rejectsWith(ds.put(`${p}late`, 'x', { lease: lease.id }), 'MARGAY_ERR_LEASE');
      assert.equal(await ds.get(`${p}late`), undefined);
      await watch.cancel();
      await got.waitEnd();
    });

    test('leases: expiry deletes the keys and emits delete events', async () => {
      const lease = await ds.grantLease(2);
      const kept = await ds.grantLease(60);
      const watch = ds.watch(p, (await ds.currentRevision()) + 1);
      const got = new Collector<WatchEvent>(watch.events);
      await ds.put(`${p}short`, 'x', { lease: lease.id });
      await ds.put(`${p}long`, 'y', { lease: kept.id });
      await fx.letLeaseExpire(2);
      await eventually(async () => (await ds.get(`${p}short`)) === undefined, { timeoutMs: 10_000, what: 'key expiry' });
      const events = await got.waitFor(3);
      assert.deepEqual(
        events.map((e) => [e.type, e.key]),
        [
          ['put', `${p}short`],
          ['put', `${p}long`],
          ['delete', `${p}short`],
        ],
      );
      assert.ok(await ds.get(`${p}long`), 'the other lease still holds its key');
      await rejectsWith(lease.keepAliveOnce(), 'MARGAY_ERR_LEASE');
      await kept.revoke();
      await watch.cancel();
      await got.waitEnd();
    });

    test('errors carry stable codes from the other client too', async () => {
      await fx.other.create(`${p}x`, '1');
      await rejectsWith(ds.create(`${p}x`, '2'), 'MARGAY_ERR_ALREADY_EXISTS');
    });
  });
}
