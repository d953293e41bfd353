/**
 * A watch-fed copy of what an allocation reads before it writes (settings, pools, reservations,
 * the node, the node's block affinities: runtime.ts `assignReads`), for a long-lived `Ipam` such
 * as the agent's CNI service (`IpamOptions.cacheReads`). Without it every ADD starts with a read
 * round trip to etcd; with it, only the block's transaction remains.
 *
 * Safety: a copy is kept with the revision it was read at, and watches of every key and prefix
 * it came from, started just after that revision, drop it at the first change (a watch that ends,
 * compacted or unreachable, drops every copy and is started again by the next read). So a copy
 * is at most as old as the watch's delivery, about a read's round trip. Addresses are never at
 * stake: every block write compares the block's revision (block-writer.ts), whatever was read
 * before it.
 */
import type { Datastore, RawWatch, ReadRequest } from '../datastore/mod.ts';

interface Entry<T> {
  value: T;
  revision: number;
  prefixes: string[];
  /** Reads the copy again (in the background) once a change dropped it. */
  reload: (() => void) | undefined;
}

/** Copies by key, each dropped when a watch sees a change under one of its reads. */
export class ReadsCache<T> {
  readonly #datastore: Datastore;
  readonly #entries = new Map<string, Entry<T>>();
  /** One watch per prefix, shared by every copy that read it. */
  readonly #watches = new Map<string, RawWatch>();
  /** The revision of the last change each watch reported: a read older than it is not kept. */
  readonly #lastChange = new Map<string, number>();
  #closed = false;

  constructor(datastore: Datastore) {
    this.#datastore = datastore;
  }

  /** The copy of `key`, when one is kept and nothing it was read from has changed since. */
  get(key: string): T | undefined {
    return this.#entries.get(key)?.value;
  }

  /**
   * Keeps `value`, read at `revision` from `reads`, until a change under one of them; then
   * `reload` (when given) is called once, so that the next user finds a fresh copy rather than
   * paying the read (a host's first allocation claims a block, which drops the copy at once).
   * Not after a watch ended (etcd compacted or unreachable): the next user reads.
   */
  keep(key: string, value: T, revision: number, reads: readonly ReadRequest[], reload?: () => void): void {
    if (this.#closed) return;
    const prefixes = reads.map((r) => ('key' in r ? r.key : r.prefix));
    // A watch started later than this read would miss the changes in between: keep the copy only
    // when every watch it needs exists already (they started no later than an earlier copy's
    // revision, and report everything after it), else start them from just after this read.
    for (const p of prefixes) if (!this.#watches.has(p)) this.#watch(p, revision + 1);
    // A read that finished after a change it does not hold was reported (a late answer): not kept.
    if (prefixes.some((p) => (this.#lastChange.get(p) ?? 0) > revision)) return;
    this.#entries.set(key, { value, revision, prefixes, reload });
  }

  /** Drops every copy (the watches stay), reloading them (this process's own writes: a change). */
  clear(): void {
    const dropped = [...this.#entries.values()];
    this.#entries.clear();
    this.#reload(dropped);
  }

  /** Stops the watches; nothing is kept any more. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#entries.clear();
    const all = [...this.#watches.values()];
    this.#watches.clear();
    await Promise.all(all.map((w) => w.cancel().catch(() => undefined)));
  }

  #watch(prefix: string, fromRevision: number): void {
    const w = this.#datastore.watch(prefix, fromRevision);
    this.#watches.set(prefix, w);
    void (async () => {
      try {
        for await (const events of w.events) {
          for (const e of events) this.#changed(prefix, e.modRevision);
        }
      } catch {
        // compacted or unreachable: below
      }
      // The watch ended: nothing it covered can be trusted any more.
      if (this.#watches.get(prefix) === w) this.#watches.delete(prefix);
      this.#changed(prefix, Infinity);
    })();
  }

  /** Drops every copy read from `prefix` before `revision`; reloads them unless the watch ended (`Infinity`). */
  #changed(prefix: string, revision: number): void {
    if (revision !== Infinity && revision > (this.#lastChange.get(prefix) ?? 0)) this.#lastChange.set(prefix, revision);
    const dropped: Entry<T>[] = [];
    for (const [key, entry] of this.#entries) {
      if (entry.revision < revision && entry.prefixes.includes(prefix)) {
        this.#entries.delete(key);
        dropped.push(entry);
      }
    }
    if (revision !== Infinity) this.#reload(dropped);
  }

  #reload(dropped: readonly Entry<T>[]): void {
    if (this.#closed) return;
    for (const e of dropped) e.reload?.();
  }
}
