/**
 * The other side of datastore/batch.ts: readers that never see half a batch, and the rollback of
 * a batch whose writer died half-way.
 *
 * - A batch larger than one transaction is open while its marker exists. A resource read takes
 *   the markers and what it reads at one revision; when it finds a marker it waits until the
 *   batch is over, so that it sees the store before or after the batch, never in between.
 * - A marker whose owner key is gone (the writer's lease lapsed: it was killed, or lost the
 *   datastore) belongs to nobody. The reader that finds one rolls the batch back from its undo
 *   records, with the same compare-and-swap undo the writer would have run, then deletes the
 *   marker. Several readers may do so at once: each undo write applies once, the marker goes once.
 */
import { MargayError, hasCode } from '../errors/mod.ts';
import { sleep } from '../os/mod.ts';
import { parseMarker, type UndoRecordEntry } from './batch.ts';
import { undoEntries, type UndoEntry } from './batch-undo.ts';
import type { Datastore, KVPair, ListResult } from './datastore.ts';
import { BATCH_MARKERS_PREFIX, batchKeys } from './keys.ts';
import { ETCD_DEFAULT_LIMITS, MAX_READS } from './txn-rules.ts';

/** Longest a reader waits for a batch whose writer is alive (its lease renewed) to end. */
export const BATCH_WAIT_MS = 120_000;

/** First and longest pause between two looks at an open batch. */
const FIRST_PAUSE_MS = 10;
const LONGEST_PAUSE_MS = 500;

/** The id of a batch from its marker key. */
function idOf(markerKey: string): string {
  return markerKey.slice(BATCH_MARKERS_PREFIX.length);
}

/** One look: the open markers seen, and the value read with them. */
interface Look<T> {
  open: KVPair[];
  value?: T;
}

/** Reads one key as it is outside any batch. */
export async function settledGet(ds: Datastore, key: string): Promise<KVPair | undefined> {
  return settle(ds, async () => {
    const { results } = await ds.getMany([{ prefix: BATCH_MARKERS_PREFIX }, { key }]);
    return { open: results[0]!, value: results[1]![0] };
  });
}

/**
 * Lists a prefix as it is outside any batch: markers and prefix in one read at one revision (a
 * range without paging, unlike {@link Datastore.list}: the client takes responses of any size).
 */
export async function settledList(ds: Datastore, prefix: string): Promise<ListResult> {
  return settle(ds, async () => {
    const { results, revision } = await ds.getMany([{ prefix: BATCH_MARKERS_PREFIX }, { prefix }]);
    return { open: results[0]!, value: { items: results[1]!, revision } };
  });
}

/** Looks until no batch is open, rolling back the abandoned ones and waiting for the live ones. */
async function settle<T>(ds: Datastore, look: () => Promise<Look<T>>): Promise<T> {
  let pause = FIRST_PAUSE_MS;
  let waited = 0;
  for (;;) {
    const { open, value } = await look();
    if (open.length === 0) return value as T;
    if ((await recoverBatches(ds, open)) > 0) continue;
    if (waited >= BATCH_WAIT_MS) {
      throw new MargayError('MARGAY_ERR_DATASTORE_UNAVAILABLE', `a batch is still being written by another command after ${BATCH_WAIT_MS / 1000} s (marker ${open[0]!.key}); try again later`);
    }
    await sleep(pause);
    waited += pause;
    pause = Math.min(pause * 2, LONGEST_PAUSE_MS);
  }
}

/**
 * Rolls back every open batch whose writer is gone (`markers`, or every marker in the store).
 * Returns how many batches it closed. Throws MARGAY_ERR_DATASTORE_UNAVAILABLE when the datastore
 * stopped answering half-way (the next call goes on).
 */
export async function recoverBatches(ds: Datastore, markers?: readonly KVPair[]): Promise<number> {
  const found = markers ?? (await ds.getMany([{ prefix: BATCH_MARKERS_PREFIX }])).results[0]!;
  let closed = 0;
  for (const m of found.slice(0, MAX_READS)) if (await rollBack(ds, idOf(m.key))) closed++;
  return closed;
}

/** Rolls back batch `id` if it is still open and its owner gone; true when it closed it. */
async function rollBack(ds: Datastore, id: string): Promise<boolean> {
  const keys = batchKeys(id);
  // Marker and owner at one revision: no step of the batch can follow an owner found gone.
  const { results } = await ds.getMany([{ key: keys.marker }, { key: keys.owner }]);
  const marker = results[0]![0];
  if (!marker || results[1]![0]) return false;
  const state = parseMarker(marker);
  if (!state) throw broken(marker.key, 'its value is not a batch marker');
  const revisions = [...state.revisions, marker.modRevision];
  const entries: UndoEntry[] = [];
  for (let step = state.step; step >= 0; step--) {
    const record = await ds.get(keys.undo(step));
    if (!record) throw broken(marker.key, `the undo record ${keys.undo(step)} is missing`);
    const list = JSON.parse(record.value) as UndoRecordEntry[];
    entries.push(...list.map((e) => ({ ...e, revision: revisions[step]! })));
  }
  const left = await undoEntries(ds, entries, ds.limits ?? ETCD_DEFAULT_LIMITS);
  if (left.some((l) => l.unanswered)) {
    throw new MargayError('MARGAY_ERR_DATASTORE_UNAVAILABLE', `rolling back the interrupted batch ${marker.key}: the datastore did not answer; the next command goes on`);
  }
  try {
    await ds.txn([{ op: 'delete', key: marker.key, modRevision: marker.modRevision }]);
  } catch (err) {
    if (hasCode(err, 'MARGAY_ERR_NOT_FOUND') || hasCode(err, 'MARGAY_ERR_CONFLICT')) return true; // another reader closed it
    throw err;
  }
  for (let step = 0; step <= state.step; step++) await ds.delete(keys.undo(step)).catch(() => undefined);
  return true;
}

function broken(marker: string, why: string): MargayError {
  return new MargayError('MARGAY_ERR_BATCH_INCOMPLETE', `the interrupted batch ${marker} cannot be rolled back: ${why}; its writes are as its writer left them (delete the marker to go on)`);
}
