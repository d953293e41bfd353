/**
 * A consumer of syncer events that checks the stream's promises as it goes: updates only move a
 * key forward, deletes only remove keys it has, `in-sync` comes once, nothing arrives after stop.
 */
import assert from 'node:assert/strict';
import type { KVPair } from '../../src/datastore/datastore.ts';
import type { SyncerEvent } from '../../src/datastore/syncer.ts';

export class Mirror {
  readonly kvs = new Map<string, KVPair>();
  readonly events: SyncerEvent[] = [];
  readonly batches: SyncerEvent[][] = [];
  inSyncCount = 0;
  stopped = false;
  readonly #allowRewind: boolean;

  /** `allowRewind`: accept an update to an older revision (a store restored from a backup). */
  constructor(options: { allowRewind?: boolean } = {}) {
    this.#allowRewind = options.allowRewind ?? false;
  }

  /** The handler to give to the syncer. */
  readonly handle = (batch: SyncerEvent[]): void => {
    assert.ok(!this.stopped, `event delivered after stop: ${JSON.stringify(batch)}`);
    this.batches.push(batch);
    for (const ev of batch) {
      this.events.push(ev);
      switch (ev.type) {
        case 'update': {
          const old = this.kvs.get(ev.kv.key);
          if (old && this.#allowRewind) assert.notEqual(ev.kv.modRevision, old.modRevision, `duplicate update of ${ev.kv.key}`);
          else if (old) assert.ok(ev.kv.modRevision > old.modRevision, `duplicate or stale update of ${ev.kv.key}`);
          this.kvs.set(ev.kv.key, ev.kv);
          break;
        }
        case 'delete':
          assert.ok(this.kvs.has(ev.key), `spurious delete of ${ev.key}`);
          this.kvs.delete(ev.key);
          break;
        case 'in-sync':
          this.inSyncCount++;
          assert.equal(this.inSyncCount, 1, 'in-sync marker delivered twice');
          break;
        case 'status':
          break;
      }
    }
  };

  /** The status states seen, in order. */
  get states(): string[] {
    return this.events.flatMap((e) => (e.type === 'status' ? [e.state] : []));
  }

  /** Data events (update/delete) after index `from`, as [type, key, value] triples. */
  changes(from = 0): [string, string, string | undefined][] {
    return this.events
      .slice(from)
      .flatMap((e): [string, string, string | undefined][] =>
        e.type === 'update' ? [['update', e.kv.key, e.kv.value]] : e.type === 'delete' ? [['delete', e.key, undefined]] : [],
      );
  }

  /** Asserts the mirror holds exactly `items` (a listing of the same prefix). */
  assertEquals(items: KVPair[]): void {
    const mine = [...this.kvs.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    assert.deepEqual(
      mine.map((kv) => [kv.key, kv.value, kv.modRevision, kv.createRevision, kv.lease ?? null]),
      items.map((kv) => [kv.key, kv.value, kv.modRevision, kv.createRevision, kv.lease ?? null]),
    );
  }
}
