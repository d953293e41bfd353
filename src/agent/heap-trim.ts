/**
 * Gives the heap a burst grew back to the system. A burst of datastore updates (the snapshot of
 * a large cluster, thousands of endpoints written at once) leaves V8's old space several times
 * larger than what stays alive: the values parsed from etcd, the batches, the nft text are dead
 * once applied, but V8 collects and shrinks lazily, so the resident size stayed ~2× the
 * retained heap (bench/agent-memory.ts: 6.1 KiB RSS per remote endpoint for 1.5 KiB retained).
 * After a burst of at least {@link HeapTrimOptions.minUpdates} updates, once neither an update
 * nor a dataplane apply has come for {@link HeapTrimOptions.quietMs}, one compacting full collection runs (tens to a few hundred
 * ms on a 100 MiB heap, once per burst, never while updates flow; at most once per {@link HeapTrimOptions.minIntervalMs}).
 * Steady small changes never trigger it.
 */
import { setFlagsFromString } from 'node:v8';
import type { Clock, TimerHandle } from '../os/mod.ts';
import { exposedGc, type V8Gc } from './v8-gc.ts';

/** Options of {@link HeapTrim}. */
export interface HeapTrimOptions {
  clock: Clock;
  /** Runs a full collection; default V8's own (exposed here once). */
  gc?: () => void;
  /** Updates since the last collection that make a burst (default 2,000). */
  minUpdates?: number;
  /** Quiet time after the last update before collecting (default 1,000 ms). */
  quietMs?: number;
  /** Shortest time between two collections (default 30 s). */
  minIntervalMs?: number;
  /**
   * True while work is in progress that the collection's pause would delay (a dataplane apply:
   * a cold start's `nft -f` can take more than the quiet time on a loaded machine); the
   * collection then waits another quiet time.
   */
  working?: () => boolean;
  /**
   * Runs after each collection: gives the C library's free pages back (`malloc_trim`, see
   * src/os/malloc-control.ts); the burst's native buffers and V8's own bookkeeping of the
   * compaction are malloc'd, not on V8's heap.
   */
  release?: () => void;
  /** Told after each collection: how long it took and the heap used before and after (bytes). */
  onCollected?: (info: { ms: number; heapBefore: number; heapAfter: number }) => void;
}

/**
 * V8's full collection with compaction, without `--expose-gc` on the command line (it does
 * nothing if V8 does not give it). A plain full collection frees the dead objects but leaves the
 * pages they were spread over committed (50,000 endpoints: 1.8 KiB committed per endpoint for
 * 0.7 KiB used); compacting moves the survivors together and gives the emptied pages back. It
 * costs more (a few hundred ms for a 100 MiB heap on a busy 2-vCPU machine), hence only once per
 * burst. V8's `gc` is fetched at the first collection, not at start: it takes a new V8 context,
 * which a cold start would wait for.
 */
function v8Gc(): () => void {
  return () => {
    const gc: V8Gc | null = exposedGc();
    if (gc === null) return;
    setFlagsFromString('--compact-on-every-full-gc');
    try {
      gc();
    } finally {
      setFlagsFromString('--no-compact-on-every-full-gc');
    }
  };
}

/** Counts updates; after a burst and a quiet moment, collects once. */
export class HeapTrim {
  readonly #clock: Clock;
  readonly #gc: () => void;
  readonly #minUpdates: number;
  readonly #quietMs: number;
  readonly #minIntervalMs: number;
  readonly #onCollected: HeapTrimOptions['onCollected'];
  readonly #working: () => boolean;
  readonly #release: (() => void) | undefined;
  #updates = 0;
  #last = -Infinity;
  #timer: TimerHandle | undefined;
  #collections = 0;

  constructor(options: HeapTrimOptions) {
    this.#clock = options.clock;
    this.#gc = options.gc ?? v8Gc();
    this.#minUpdates = options.minUpdates ?? 2000;
    this.#quietMs = options.quietMs ?? 1000;
    this.#minIntervalMs = options.minIntervalMs ?? 30_000;
    this.#onCollected = options.onCollected;
    this.#working = options.working ?? (() => false);
    this.#release = options.release;
  }

  /** How many collections ran (for tests and metrics). */
  get collections(): number {
    return this.#collections;
  }

  /** `n` updates arrived: (re)starts the quiet timer once a burst has built up. */
  note(n: number): void {
    if (n <= 0) return;
    this.#updates += n;
    this.busy();
  }

  /**
   * Work caused by the burst went on (a dataplane apply: its text and outputs are garbage too):
   * the quiet time starts again, when a burst is pending.
   */
  busy(): void {
    if (this.#updates < this.#minUpdates) return;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    const wait = Math.max(this.#quietMs, this.#last + this.#minIntervalMs - this.#clock.now());
    this.#timer = this.#clock.setTimeout(() => this.#collect(), wait);
  }

  /** Cancels a pending collection. */
  stop(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #collect(): void {
    this.#timer = undefined;
    if (this.#working()) {
      this.#timer = this.#clock.setTimeout(() => this.#collect(), this.#quietMs);
      return;
    }
    this.#updates = 0;
    this.#last = this.#clock.now();
    this.#collections++;
    const heapBefore = process.memoryUsage().heapUsed;
    const start = this.#clock.now();
    this.#gc();
    this.#release?.();
    this.#onCollected?.({ ms: this.#clock.now() - start, heapBefore, heapAfter: process.memoryUsage().heapUsed });
  }
}
