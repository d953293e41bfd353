import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { checkBatch, MAX_BATCH_WRITES, writeBatch, type BatchWrite } from '../../src/datastore/batch.ts';
import type { Datastore, TxnOp } from '../../src/datastore/datastore.ts';
import { BATCH_MARKERS_PREFIX, BATCHES_PREFIX } from '../../src/datastore/keys.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { hasCode } from '../../src/errors/mod.ts';
import { dump, FaultyDatastore, type Fault } from './faulty.ts';

/** A store whose transactions take 6 operations (3 writes of a chain beside its 3 own), holding keys /k/old0../k/old5. */
async function seeded(): Promise<MemoryDatastore> {
  const ds = new MemoryDatastore({ limits: { maxOps: 6, maxBytes: 1 << 20 } });
  for (let i = 0; i < 6; i++) await ds.put(`/k/old${i}`, `v${i}`);
  return ds;
}

/** Creates /k/new0..new(n-1), updates /k/old0..old(u-1), deletes /k/old5 when `del`. */
async function writes(ds: Datastore, creates: number, updates: number, del = false): Promise<BatchWrite[]> {
  const out: BatchWrite[] = [];
  for (let i = 0; i < creates; i++) out.push({ op: { op: 'create', key: `/k/new${i}`, value: `n${i}` } });
  for (let i = 0; i < updates; i++) {
    const before = (await ds.get(`/k/old${i}`))!;
    out.push({ op: { op: 'update', key: before.key, value: `u${i}`, modRevision: before.modRevision }, before });
  }
  if (del) {
    const before = (await ds.get('/k/old5'))!;
    out.push({ op: { op: 'delete', key: before.key, modRevision: before.modRevision }, before });
  }
  return out;
}

/** Fails the n-th transaction that carries a write of the batch (not an undo) with `fault`. */
function failNth(n: number, fault: Fault): (k: number, ops: readonly TxnOp[]) => Fault | undefined {
  let seen = 0;
  return (_k, ops) => (ops.some((o) => o.key.startsWith(BATCHES_PREFIX)) && ++seen === n ? fault : undefined);
}

describe('batches larger than one transaction', () => {
  test('a batch that fits is one transaction', async () => {
    const ds = await seeded();
    const revs = await writeBatch(ds, await writes(ds, 2, 1));
    assert.equal(new Set(revs).size, 1);
    assert.equal((await ds.get('/k/old0'))?.value, 'u0');
  });

  test('a larger one is a chain: creates first, updates and deletes last, the marker gone after', async () => {
    const ds = await seeded();
    const batch = await writes(ds, 7, 2, true);
    const revs = await writeBatch(ds, batch);
    // 3 ops per transaction beside the marker: creates in 3 transactions, then the 3 others in one.
    assert.deepEqual(revs.map((r) => r - revs[0]!), [0, 0, 0, 1, 1, 1, 2, 3, 3, 3]);
    assert.deepEqual((await ds.list('/k/new')).items.map((kv) => kv.value), ['n0', 'n1', 'n2', 'n3', 'n4', 'n5', 'n6']);
    assert.equal(await ds.get('/k/old5'), undefined);
    assert.deepEqual((await ds.list(BATCHES_PREFIX)).items, []);
    assert.deepEqual((await ds.list(BATCH_MARKERS_PREFIX)).items, []);
  });

  for (const [what, fault] of [
    ['refused', 'rejected'],
    ['unanswered, not applied', 'lost-request'],
  ] as const) {
    test(`the last transaction ${what}: every key as before, revisions included`, async () => {
      const inner = await seeded();
      const ds = new FaultyDatastore(inner, failNth(4, fault));
      const before = await dump(inner);
      const err = await writeBatch(ds, await writes(inner, 7, 2, true)).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof Error);
      assert.match(err.message, /a batch of 10 writes in 4 transactions: the 7 writes already made were undone; the datastore is as before/);
      assert.equal(await dump(inner), before);
    });
  }

  test('a middle transaction applied but unanswered: the marker shows it, and the chain goes on', async () => {
    const inner = await seeded();
    const ds = new FaultyDatastore(inner, failNth(2, 'lost-answer'));
    const revs = await writeBatch(ds, await writes(inner, 7, 2, true));
    assert.deepEqual(revs.map((r) => r - revs[0]!), [0, 0, 0, 1, 1, 1, 2, 3, 3, 3]);
    assert.equal((await inner.list('/k/new')).items.length, 7);
  });

  test('a transaction applied but unanswered, then a later one refused: both undone', async () => {
    const inner = await seeded();
    let seen = 0;
    const ds = new FaultyDatastore(inner, (_n, ops) => {
      if (!ops.some((o) => o.key.startsWith(BATCHES_PREFIX))) return undefined;
      seen++;
      return seen === 2 ? 'lost-answer' : seen === 4 ? 'rejected' : undefined;
    });
    const before = await dump(inner);
    await assert.rejects(writeBatch(ds, await writes(inner, 7, 2, true)), (e: unknown) => hasCode(e, 'MARGAY_ERR_DATASTORE_REJECTED') && /the 7 writes already made were undone/.test((e as Error).message));
    assert.equal(await dump(inner), before);
  });

  test('the last transaction applied but unanswered: the batch succeeded', async () => {
    const inner = await seeded();
    const ds = new FaultyDatastore(inner, failNth(4, 'lost-answer'));
    const revs = await writeBatch(ds, await writes(inner, 7, 2, true));
    assert.equal(revs.length, 10);
    assert.equal((await ds.get('/k/old1'))?.value, 'u1');
    assert.equal(revs[7], (await ds.get('/k/old0'))?.modRevision);
  });

  test('updates and deletes over several transactions: values restored (with new revisions)', async () => {
    const inner = await seeded();
    const ds = new FaultyDatastore(inner, failNth(3, 'rejected'));
    const values = async () => (await inner.list('/k/')).items.map((kv) => `${kv.key}=${kv.value}`).join(' ');
    const before = await values();
    await assert.rejects(writeBatch(ds, await writes(inner, 3, 5, true)), /the 6 writes already made were undone/);
    assert.equal(await values(), before);
  });

  test('a key another writer changed in between is left as it is, and named', async () => {
    const inner = await seeded();
    const other = inner.peer();
    const ds = new FaultyDatastore(inner, (_n, ops) => {
      if (ops.some((o) => o.op === 'update' && o.key.startsWith(BATCH_MARKERS_PREFIX))) {
        void other.put('/k/new1', 'theirs');
        return 'rejected';
      }
      return undefined;
    });
    const err = await writeBatch(ds, await writes(inner, 7, 0)).then(() => undefined, (e: unknown) => e);
    assert.ok(hasCode(err, 'MARGAY_ERR_BATCH_INCOMPLETE'), String(err));
    assert.match((err as Error).message, /2 writes undone, 1 left: \/k\/new1 \(changed by another writer since; left as it is\)/);
    assert.deepEqual((await inner.list('/k/new')).items.map((kv) => kv.value), ['theirs']);
  });

  test('the datastore gone for good: what is left is named, with the marker', async () => {
    const inner = await seeded();
    const ds = new FaultyDatastore(inner, failNth(3, 'outage'));
    const err = await writeBatch(ds, await writes(inner, 7, 2)).then(() => undefined, (e: unknown) => e);
    assert.ok(hasCode(err, 'MARGAY_ERR_BATCH_INCOMPLETE'), String(err));
    assert.match((err as Error).message, /0 writes undone, 6 left: \/k\/new3, \/k\/new4, \/k\/new5, \/k\/new0, \/k\/new1 \(the datastore did not answer\) and 1 more; transaction 3 got no answer and may have been applied; batch marker \/calico\/resources\/v3\/projectcalico.org\/margay.batch\./);
  });

  test('refused before anything is written: too many writes, a put, a missing pre-image, a write too large', async () => {
    const tooMany: BatchWrite[] = Array.from({ length: MAX_BATCH_WRITES + 1 }, (_, i) => ({ op: { op: 'create', key: `/x/${i}`, value: '' } }));
    assert.throws(() => checkBatch(tooMany), (e: unknown) => hasCode(e, 'MARGAY_ERR_TOO_LARGE') && /at most 10000/.test((e as Error).message));
    assert.throws(() => checkBatch([{ op: { op: 'put', key: '/x', value: '' } }]), (e: unknown) => hasCode(e, 'MARGAY_ERR_DATASTORE_REJECTED'));
    assert.throws(() => checkBatch([{ op: { op: 'delete', key: '/x', modRevision: 3 } }]), /needs the pair it replaces/);
    const big = { op: { op: 'create', key: '/x', value: 'x'.repeat(2 << 20) } } as const;
    assert.throws(() => checkBatch([big]), (e: unknown) => hasCode(e, 'MARGAY_ERR_TOO_LARGE') && /\/x: a write of about \d+ bytes/.test((e as Error).message));
  });

  test('a large update in the last transaction needs no room for its pre-image; one in an earlier transaction does', async () => {
    const ds = await seeded();
    const big = 'x'.repeat(600_000);
    await ds.put('/k/big', big);
    const pre = (await ds.get('/k/big'))!;
    const update = { op: { op: 'update', key: pre.key, value: `${big}!`, modRevision: pre.modRevision }, before: pre } as const;
    await writeBatch(ds, [...(await writes(ds, 4, 0)), update]);
    assert.equal((await ds.get('/k/big'))?.value, `${big}!`);
    const now = (await ds.get('/k/big'))!;
    const again = { op: { op: 'update', key: now.key, value: big, modRevision: now.modRevision }, before: now } as const;
    const before = await dump(ds);
    // Six updates need two transactions: the first keeps an undo record, and 1.2 MB do not fit in 1 MiB.
    const batch = [...(await writes(ds, 2, 5)), again];
    await assert.rejects(writeBatch(ds, batch), (e: unknown) => hasCode(e, 'MARGAY_ERR_TOO_LARGE') && /\/k\/big: a write of about \d+ bytes with its pre-image/.test((e as Error).message));
    assert.equal(await dump(ds), before, 'refused before anything was written');
  });

  test('the in-memory store refuses a transaction beyond its limits, as etcd does', async () => {
    const ds = await seeded();
    const ops: TxnOp[] = Array.from({ length: 7 }, (_, i) => ({ op: 'put', key: `/y/${i}`, value: '' }));
    await assert.rejects(ds.txn(ops), (e: unknown) => hasCode(e, 'MARGAY_ERR_DATASTORE_REJECTED') && /at most 6 \(etcd --max-txn-ops\)/.test((e as Error).message));
  });
});
