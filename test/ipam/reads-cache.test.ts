/**
 * IPAM's watch-fed read cache (`cacheReads`, src/ipam/reads-cache.ts): an autoAssign after the
 * first reads nothing before its block's transaction, and a change to what it read (a pool, a
 * reservation, the settings, the node's affinities) is seen by the next allocation. (Concurrent
 * requests with the cache: test/ipam/alongside.test.ts.)
 */
import assert from 'node:assert/strict';
import { setImmediate as tick } from 'node:timers/promises';
import { describe, test } from 'node:test';
import type { ManyResult, RawWatch, ReadRequest, WatchEvent } from '../../src/datastore/datastore.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { ReadsCache } from '../../src/ipam/reads-cache.ts';
import { apply, node, pool, reservation } from './helpers.ts';

/** A memory datastore that counts getMany calls, and whose watches can be held back. */
class CountingDatastore extends MemoryDatastore {
  reads = 0;
  /** While set, watch events wait for it. */
  held: Promise<void> | undefined;
  override getMany(reads: readonly ReadRequest[]): Promise<ManyResult> {
    this.reads++;
    return super.getMany(reads);
  }
  override watch(prefix: string, fromRevision: number): RawWatch {
    const inner = super.watch(prefix, fromRevision);
    const held = (): Promise<void> | undefined => this.held;
    async function* events(): AsyncIterable<WatchEvent[]> {
      for await (const batch of inner.events) {
        for (let h = held(); h; h = held()) await h;
        yield batch;
      }
    }
    return { events: events(), cancel: () => inner.cancel() };
  }
}

async function setup(): Promise<{ ds: CountingDatastore; ipam: Ipam }> {
  const ds = new CountingDatastore();
  await apply(ds, pool('p1', '10.0.0.0/24', { blockSize: 30 }), node('n1'));
  return { ds, ipam: new Ipam(ds, { sleep: async () => {}, cacheReads: true }) };
}

/** Lets the watches deliver what was written. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

describe('ipam - read cache', () => {
  test('reads once, then only writes; a new reservation is honoured by the next allocation', async () => {
    const { ds, ipam } = await setup();
    try {
      // The first claims a block (which drops the copy: the node's blocks changed); the second
      // reads again, the third reads nothing.
      const first = await ipam.autoAssign({ handle: 'h0', node: 'n1', num4: 1 });
      await settle();
      const second = await ipam.autoAssign({ handle: 'h1', node: 'n1', num4: 1 });
      const readsAfterSecond = ds.reads;
      await settle();
      const third = await ipam.autoAssign({ handle: 'h2', node: 'n1', num4: 1 });
      assert.equal(ds.reads, readsAfterSecond, 'the third allocation read nothing before writing');
      assert.equal(new Set([first, second, third].map((r) => r.ipv4[0]!.address)).size, 3);

      // Reserve the rest of the first block: the next address must come from elsewhere.
      const block = first.ipv4[0]!.block;
      await apply(ds, reservation('r1', [block]));
      await settle();
      const fourth = await ipam.autoAssign({ handle: 'h3', node: 'n1', num4: 1 });
      assert.ok(ds.reads > readsAfterSecond, 'the reservation dropped the copy');
      assert.notEqual(fourth.ipv4[0]!.block, block);
    } finally {
      await ipam.close();
    }
  });

  test("this process's own affinity and settings writes drop the copy at once, without waiting for the watch", async () => {
    const { ds, ipam } = await setup();
    try {
      await ipam.autoAssign({ handle: 'h0', node: 'n1', num4: 1 });
      await settle();
      await ipam.autoAssign({ handle: 'h1', node: 'n1', num4: 1 });
      await settle();
      let before = ds.reads;
      await ipam.autoAssign({ handle: 'h2', node: 'n1', num4: 1 });
      assert.equal(ds.reads, before, 'warm: nothing read');
      // The watches say nothing from here on.
      let release = (): void => undefined;
      ds.held = new Promise((r) => (release = r));
      // A block claimed here: the node's blocks are read again at once (reloaded when the write is
      // done, or by the next allocation).
      before = ds.reads;
      await ipam.claimAffinity({ cidr: '10.0.0.64/30', node: 'n1' });
      await ipam.autoAssign({ handle: 'h3', node: 'n1', num4: 1 });
      assert.ok(ds.reads > before, 'the claim dropped the copy');
      // Settings written here: likewise.
      before = ds.reads;
      await ipam.setConfig({ maxBlocksPerHost: 9 });
      await ipam.autoAssign({ handle: 'h5', node: 'n1', num4: 1 });
      assert.ok(ds.reads > before, 'the settings write dropped the copy');
      ds.held = undefined;
      release();
    } finally {
      await ipam.close();
    }
  });

  test('a copy a change dropped is read again in the background: the next allocation reads nothing', async () => {
    const { ds, ipam } = await setup();
    try {
      await ipam.autoAssign({ handle: 'h0', node: 'n1', num4: 1 }); // claims a block: the copy is dropped
      await settle();
      let before = ds.reads;
      await ipam.autoAssign({ handle: 'h1', node: 'n1', num4: 1 });
      assert.equal(ds.reads, before, 'reloaded after the claim: nothing read before writing');
      // Another process's change (a pool disabled, a new one): reloaded too, and the reload sees it.
      before = ds.reads;
      await apply(ds, pool('p1', '10.0.0.0/24', { blockSize: 30, disabled: true }), pool('p2', '10.1.0.0/24', { blockSize: 30 }));
      await settle();
      assert.ok(ds.reads > before, 'the copy was read again after the change, before any allocation');
      const r = await ipam.autoAssign({ handle: 'h2', node: 'n1', num4: 1 });
      assert.equal(r.ipv4[0]!.pool, 'p2');
    } finally {
      await ipam.close();
    }
  });

  test('a read that answers after a change it does not hold was reported is not kept', async () => {
    const ds = new CountingDatastore();
    const cache = new ReadsCache<string>(ds);
    try {
      const reads = [{ prefix: '/a/' }];
      const first = await ds.getMany(reads);
      cache.keep('k', 'first', first.revision, reads);
      await ds.put('/a/x', '1'); // a change: reported by the watch, the copy dropped
      await settle();
      assert.equal(cache.get('k'), undefined);
      // An older read (started before the change) answering only now must not come back.
      cache.keep('k', 'late', first.revision, reads);
      assert.equal(cache.get('k'), undefined, 'a copy older than a reported change');
      const fresh = await ds.getMany(reads);
      cache.keep('k', 'fresh', fresh.revision, reads);
      assert.equal(cache.get('k'), 'fresh');
    } finally {
      await cache.close();
    }
  });

  test('a disabled pool is not used once its change has been seen', async () => {
    const { ds, ipam } = await setup();
    try {
      await ipam.autoAssign({ handle: 'h0', node: 'n1', num4: 1 });
      await apply(ds, pool('p1', '10.0.0.0/24', { blockSize: 30, disabled: true }), pool('p2', '10.1.0.0/24', { blockSize: 30 }));
      await settle();
      const r = await ipam.autoAssign({ handle: 'h1', node: 'n1', num4: 1 });
      assert.equal(r.ipv4[0]!.pool, 'p2');
    } finally {
      await ipam.close();
    }
  });
});
