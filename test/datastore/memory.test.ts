import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ManualClock } from '../../src/os/mod.ts';
import type { WatchEvent } from '../../src/datastore/datastore.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { hasCode } from '../../src/errors/mod.ts';
import { Collector } from '../harness/wait.ts';
import { datastoreContract } from './contract.ts';

datastoreContract('memory', async () => {
  const clock = new ManualClock();
  const ds = new MemoryDatastore({ clock });
  const other = ds.peer();
  return {
    ds,
    other,
    compact: (rev) => ds.compact(rev),
    letLeaseExpire: async (ttl) => clock.advance(ttl * 1000 + 1),
    close: async () => {
      await other.close();
      await ds.close();
    },
  };
});

describe('memory datastore - extras', () => {
  it('starts at revision 1 like an empty etcd', async () => {
    const ds = new MemoryDatastore();
    assert.equal(await ds.currentRevision(), 1);
    assert.equal((await ds.put('/a', 'x')).modRevision, 2);
    await ds.close();
  });

  it('keepAliveOnce pushes expiry back by the TTL', async () => {
    const clock = new ManualClock();
    const ds = new MemoryDatastore({ clock });
    const lease = await ds.grantLease(10);
    await ds.put('/k', 'v', { lease: lease.id });
    clock.advance(9_000);
    await lease.keepAliveOnce();
    clock.advance(9_000);
    assert.ok(await ds.get('/k'), 'still alive 18 s after grant thanks to the keep-alive');
    clock.advance(1_001);
    assert.equal(await ds.get('/k'), undefined);
    await ds.close();
    assert.equal(clock.pendingTimers, 0, 'close leaves no timers');
  });

  it('setReachable(false) fails calls and ends watches; peers keep working', async () => {
    const ds = new MemoryDatastore();
    const peer = ds.peer();
    const watch = ds.watch('/', 0);
    const got = new Collector<WatchEvent>(watch.events);
    ds.setReachable(false);
    const err = await got.waitEnd();
    assert.ok(hasCode(err, 'MARGAY_ERR_DATASTORE_UNAVAILABLE'));
    await assert.rejects(ds.get('/x'), (e: unknown) => hasCode(e, 'MARGAY_ERR_DATASTORE_UNAVAILABLE'));
    await peer.put('/x', 'from the peer');
    ds.setReachable(true);
    assert.equal((await ds.get('/x'))?.value, 'from the peer');
    await peer.close();
    await ds.close();
  });

  it('listPages serves only the current revision', async () => {
    const ds = new MemoryDatastore();
    await ds.put('/p/a', '1');
    const then = await ds.currentRevision();
    await ds.put('/p/b', '1');
    await assert.rejects(
      ds.listPages('/p/', () => assert.fail('no page at an old revision'), { revision: then }),
      (e: unknown) => hasCode(e, 'MARGAY_ERR_COMPACTED') && /only its current revision \(3\), not revision 2/.test((e as Error).message),
    );
    const pages: string[][] = [];
    assert.equal(await ds.listPages('/p/', (page) => void pages.push(page.map((kv) => kv.key)), { revision: 3 }), 3);
    assert.deepEqual(pages, [['/p/a', '/p/b']]);
    await ds.close();
  });

  it('compact refuses future and already-compacted revisions', async () => {
    const ds = new MemoryDatastore();
    await ds.put('/a', '1');
    await assert.rejects(ds.compact(99), (e: unknown) => hasCode(e, 'MARGAY_ERR_DATASTORE_REJECTED'));
    await ds.compact(2);
    await assert.rejects(ds.compact(2), (e: unknown) => hasCode(e, 'MARGAY_ERR_COMPACTED'));
    await ds.close();
  });

  it('breaking out of for-await cancels the watch', async () => {
    const ds = new MemoryDatastore();
    await ds.put('/a', '1');
    const watch = ds.watch('/', 1);
    for await (const batch of watch.events) {
      assert.equal(batch[0]!.key, '/a');
      break;
    }
    await ds.put('/b', '2');
    const r = await watch.events[Symbol.asyncIterator]().next();
    assert.equal(r.done, true);
    await ds.close();
  });
});
