import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { settledGet, settledList } from '../../src/datastore/batch-recovery.ts';
import { writeBatch, type BatchWrite } from '../../src/datastore/batch.ts';
import type { KVPair, TxnOp } from '../../src/datastore/datastore.ts';
import { BATCH_MARKERS_PREFIX, BATCHES_PREFIX, RESOURCES_PREFIX } from '../../src/datastore/keys.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { Syncer, type SyncerEvent } from '../../src/datastore/syncer.ts';
import { hasCode } from '../../src/errors/mod.ts';
import { ManualClock } from '../../src/os/mod.ts';
import { dump, FaultyDatastore, type Fault } from './faulty.ts';

const P = `${RESOURCES_PREFIX}things/`;

/** A store whose transactions take 6 operations (3 writes of a chain), holding P/old0..old2. */
async function seeded(clock = new ManualClock()): Promise<MemoryDatastore> {
  const ds = new MemoryDatastore({ limits: { maxOps: 6, maxBytes: 1 << 20 }, clock });
  for (let i = 0; i < 3; i++) await ds.put(`${P}old${i}`, `v${i}`);
  return ds;
}

/** Creates P/new0..new(n-1) and updates P/old0 (the last transaction). */
async function writes(ds: MemoryDatastore, creates: number): Promise<BatchWrite[]> {
  const out: BatchWrite[] = Array.from({ length: creates }, (_, i) => ({ op: { op: 'create', key: `${P}new${i}`, value: `n${i}` } }));
  const before = (await ds.get(`${P}old0`))!;
  out.push({ op: { op: 'update', key: before.key, value: 'u0', modRevision: before.modRevision }, before });
  return out;
}

/** The n-th transaction of the chain (it names a marker) fails with `fault`. */
function chainStep(n: number, fault: Fault): (k: number, ops: readonly TxnOp[]) => Fault | undefined {
  let seen = 0;
  return (_k, ops) => (ops.some((o) => o.key.startsWith(BATCH_MARKERS_PREFIX)) && ++seen === n ? fault : undefined);
}

/** A writer "killed" after two transactions of a 4-transaction chain: the datastore stops answering it. */
async function killedWriter(inner: MemoryDatastore): Promise<void> {
  const writer = new FaultyDatastore(inner, chainStep(3, 'outage'));
  const err = await writeBatch(writer, await writes(inner, 9)).then(() => undefined, (e: unknown) => e);
  assert.ok(hasCode(err, 'MARGAY_ERR_BATCH_INCOMPLETE'), String(err));
  assert.match((err as Error).message, /rolls the rest back/);
}

describe('an interrupted batch: readers never see part of it, and the next reader rolls it back', () => {
  test('a reader waits while the writer lease runs, then rolls the batch back: the store as before', async () => {
    const clock = new ManualClock();
    const inner = await seeded(clock);
    const before = await dump(inner, P);
    await killedWriter(inner);
    assert.equal((await inner.list(`${P}new`)).items.length, 6, 'two transactions of creates were made');
    assert.equal((await inner.list(BATCH_MARKERS_PREFIX)).items.length, 1);
    let read: KVPair | undefined | 'pending' = 'pending';
    const reading = settledGet(inner, `${P}new0`).then((kv) => (read = kv));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(read, 'pending', 'the reader waits while the writer may still be alive');
    clock.advance(11_000); // the writer's lease lapses
    await reading;
    assert.equal(read, undefined, 'the reader saw the store as before the batch');
    assert.equal(await dump(inner, P), before, 'every key, value and revision as before');
    assert.deepEqual((await inner.list(BATCH_MARKERS_PREFIX)).items, []);
    assert.deepEqual((await inner.list(BATCHES_PREFIX)).items, [], 'no owner or undo record left');
  });

  test('a list sees no part of an open batch, and the rolled-back one is not listed', async () => {
    const clock = new ManualClock();
    const inner = await seeded(clock);
    await killedWriter(inner);
    clock.advance(11_000);
    const { items } = await settledList(inner, P);
    assert.deepEqual(items.map((kv) => kv.key.slice(P.length)), ['old0', 'old1', 'old2']);
  });

  test('a batch the writer finished is read whole', async () => {
    const inner = await seeded();
    await writeBatch(inner, await writes(inner, 9));
    assert.equal((await settledList(inner, P)).items.length, 12);
    assert.equal((await settledGet(inner, `${P}old0`))?.value, 'u0');
  });
});

/** Collects the syncer's update/delete events, one array per delivery. */
function collect(ds: MemoryDatastore): { deliveries: string[][]; syncer: Syncer } {
  const deliveries: string[][] = [];
  const syncer = new Syncer(ds, RESOURCES_PREFIX, (events: SyncerEvent[]) => {
    const keys = events.flatMap((e) => (e.type === 'update' ? [`+${e.kv.key.slice(P.length)}=${e.kv.value}`] : e.type === 'delete' ? [`-${e.key.slice(P.length)}`] : []));
    if (keys.length > 0) deliveries.push(keys);
    seen = deliveries;
  }).start();
  return { deliveries, syncer };
}

let seen: unknown;
async function until(what: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !what(); i++) await new Promise((r) => setTimeout(r, 10));
  assert.ok(what(), `condition reached (${JSON.stringify(seen)})`);
}

describe('the syncer and batches larger than one transaction', () => {
  test('a chain is delivered in one piece, without the protocol keys', async () => {
    const ds = await seeded();
    const { deliveries, syncer } = collect(ds);
    await until(() => deliveries.length === 1);
    await writeBatch(ds, await writes(ds, 9));
    await until(() => deliveries.length === 2);
    await syncer.stop();
    assert.equal(deliveries[1]!.length, 10, deliveries[1]!.join(' '));
    assert.ok(deliveries[1]!.includes('+old0=u0'));
    assert.ok(deliveries.flat().every((k) => !k.includes('margay')));
  });

  test('a chain undone is never delivered at all', async () => {
    const inner = await seeded();
    const { deliveries, syncer } = collect(inner);
    await until(() => deliveries.length === 1);
    await assert.rejects(writeBatch(new FaultyDatastore(inner, chainStep(4, 'rejected')), await writes(inner, 9)), /the 9 writes already made were undone/);
    await inner.put(`${P}after`, 'x'); // a later write shows the syncer has gone past the batch
    await until(() => deliveries.length === 2);
    await syncer.stop();
    assert.deepEqual(deliveries[1], ['+after=x']);
  });

  test('a syncer started while a batch is open: its first listing is held whole, then delivered without the batch', async () => {
    const clock = new ManualClock();
    const inner = await seeded(clock);
    await killedWriter(inner);
    const { deliveries, syncer } = collect(inner);
    await new Promise((r) => setTimeout(r, 50));
    assert.deepEqual(deliveries, [], 'nothing delivered while the batch is open');
    clock.advance(11_000);
    await until(() => deliveries.length === 1);
    await syncer.stop();
    assert.deepEqual(deliveries[0], ['+old0=v0', '+old1=v1', '+old2=v2']);
    assert.ok(syncer.inSync);
  });

  test('a killed writer: held back until its lease lapses, then rolled back by the syncer and never delivered', async () => {
    const clock = new ManualClock();
    const inner = await seeded(clock);
    const { deliveries, syncer } = collect(inner);
    await until(() => deliveries.length === 1);
    await killedWriter(inner);
    await inner.put(`${P}other`, 'x'); // held back too: it came after the batch opened
    clock.advance(11_000);
    await until(() => deliveries.length === 2); // the syncer's own check rolls the batch back
    await syncer.stop();
    assert.deepEqual(deliveries[1], ['+other=x']);
    assert.deepEqual((await inner.list(BATCH_MARKERS_PREFIX)).items, []);
  });
});
