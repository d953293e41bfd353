/**
 * A young-generation collection (scavenge) between CNI operations rather than inside one. An ADD
 * allocates a few hundred KiB (docs/cni.md, session 12) and the agent runs with a small young
 * generation (`--max-semi-space-size=4`, bin/margay.js), so a scavenge (~1 ms of the one event loop,
 * more on a busy machine) used to land inside every second or third ADD, on the path a runtime
 * waits for. When the last ADD or DEL in progress has ended and its answer is out, and the young
 * generation has less room left than an operation needs, it is collected there and then: the next
 * operation starts with room for all it allocates. Idle, few objects are alive, so the scavenge
 * copies little; when the young generation has room, nothing happens. Pure apart from the injected
 * clock, room reading and collection.
 */
import { getHeapSpaceStatistics } from 'node:v8';
import type { Clock, TimerHandle } from '../os/mod.ts';
import { exposedGc } from './v8-gc.ts';

/** Options of {@link IdleScavenge}. */
export interface IdleScavengeOptions {
  clock: Clock;
  /** True while foreground work is in progress (the check then waits for the next idle moment). */
  busy: () => boolean;
  /** Bytes the young generation can still take before it must be collected; default V8's new space's available size. */
  room?: () => number;
  /** Collects the young generation; default V8's minor collection (nothing when V8 does not give it). */
  scavenge?: () => void;
  /** Collect when less room than this is left (default 768 KiB: what an ADD allocates, with margin). */
  reserveBytes?: number;
  /** How long after the idle moment to look (default 1 ms: the answer is written first). */
  delayMs?: number;
}

function newSpaceRoom(): number {
  return getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')?.space_available_size ?? Infinity;
}

function v8Scavenge(): void {
  exposedGc()?.({ type: 'minor' });
}

/** Scavenges at idle moments when the young generation is nearly full. */
export class IdleScavenge {
  readonly #clock: Clock;
  readonly #busy: () => boolean;
  readonly #room: () => number;
  readonly #scavenge: () => void;
  readonly #reserve: number;
  readonly #delayMs: number;
  #timer: TimerHandle | undefined;
  #stopped = false;
  #count = 0;

  constructor(options: IdleScavengeOptions) {
    this.#clock = options.clock;
    this.#busy = options.busy;
    this.#room = options.room ?? newSpaceRoom;
    this.#scavenge = options.scavenge ?? v8Scavenge;
    this.#reserve = options.reserveBytes ?? 768 * 1024;
    this.#delayMs = options.delayMs ?? 1;
  }

  /** How many scavenges it ran (for tests and metrics). */
  get scavenges(): number {
    return this.#count;
  }

  /** Foreground work has just ended: look shortly (once, however many times told meanwhile). */
  idle(): void {
    if (this.#stopped || this.#timer !== undefined) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      if (this.#busy() || this.#room() >= this.#reserve) return;
      this.#count++;
      this.#scavenge();
    }, this.#delayMs);
  }

  /** Cancels a pending look; later idle moments are ignored. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }
}
