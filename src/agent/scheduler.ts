/**
 * The flush scheduler: turns a stream of "something changed" kicks into few, serialized runs of
 * an async job (the agent's flush → dataplane apply), like Felix's throttled apply.
 *
 * - Coalescing: the first kick arms a timer of `delayMs`; kicks before it fires join the same
 *   run. A kick during a run marks the state dirty and schedules one more run after it.
 * - Expediting: a change someone waits for (a CNI ADD waits for its endpoint) skips the delay:
 *   the run starts at once, or right after the one in progress; what else is pending joins it.
 * - Throttling: a leaky (token) bucket of `burst` runs, refilled at one per `intervalMs`, so a
 *   steady storm of changes is applied at most every `intervalMs` after the first `burst` runs.
 *   A run that reports it found nothing to do (the job resolves `false`) gives its token back.
 * - Runs never overlap. A failed run is retried with exponential backoff (`retryInitialMs`
 *   doubling to `retryMaxMs`), whatever kicks arrive meanwhile; the first success resets it.
 *
 * Pure apart from the injected {@link Clock}: tests drive it with a ManualClock.
 */
import type { Clock, TimerHandle } from '../os/mod.ts';

/** Options of {@link FlushScheduler}. */
export interface FlushSchedulerOptions {
  clock: Clock;
  /** The job; kicks during a run cause one more run after it. Resolving `false` means it had nothing to do. */
  run: () => Promise<void | boolean>;
  /** Coalescing delay after the first kick, in ms (default 10). */
  delayMs?: number;
  /** Runs allowed back to back before throttling (default 10). */
  burst?: number;
  /** One more run allowed per this many ms once the burst is spent (default 100). */
  intervalMs?: number;
  /** First retry delay after a failed run, in ms (default 100). */
  retryInitialMs?: number;
  /** Longest retry delay, in ms (default 10000). */
  retryMaxMs?: number;
  /** Told about each failed run. */
  onError?: (err: unknown, consecutiveFailures: number) => void;
}

/** Serializes, coalesces and throttles runs of one job. */
export class FlushScheduler {
  readonly #clock: Clock;
  readonly #run: () => Promise<void | boolean>;
  readonly #delay: number;
  readonly #burst: number;
  readonly #interval: number;
  readonly #retryInitial: number;
  readonly #retryMax: number;
  readonly #onError: ((err: unknown, failures: number) => void) | undefined;

  #tokens: number;
  #refilledAt: number;
  #dirty = false;
  /** Set by expedite(): the next run starts without the coalescing delay. */
  #urgent = false;
  #timer: TimerHandle | undefined;
  #timerAt = 0;
  #running: Promise<void> | undefined;
  #failures = 0;
  #stopped = false;
  #runs = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(options: FlushSchedulerOptions) {
    this.#clock = options.clock;
    this.#run = options.run;
    this.#delay = options.delayMs ?? 10;
    this.#burst = Math.max(1, options.burst ?? 10);
    this.#interval = options.intervalMs ?? 100;
    this.#retryInitial = options.retryInitialMs ?? 100;
    this.#retryMax = options.retryMaxMs ?? 10_000;
    this.#onError = options.onError;
    this.#tokens = this.#burst;
    this.#refilledAt = this.#clock.now();
  }

  /** Something changed: run the job soon. */
  kick(): void {
    if (this.#stopped) return;
    this.#dirty = true;
    this.#schedule(this.#nextDelay());
  }

  /**
   * Something changed that a caller is waiting for: run without the coalescing delay, as soon as
   * no run is in progress. The token bucket and the retry backoff still apply.
   */
  expedite(): void {
    if (this.#stopped) return;
    this.#dirty = true;
    this.#urgent = true;
    this.#schedule(this.#nextDelay());
  }

  /** How many runs have started. */
  get runs(): number {
    return this.#runs;
  }

  /** Consecutive failed runs (0 after a success). */
  get failures(): number {
    return this.#failures;
  }

  /** True while a run is in progress. */
  get running(): boolean {
    return this.#running !== undefined;
  }

  /** True when a run is wanted (dirty) or in progress. */
  get busy(): boolean {
    return this.#dirty || this.#running !== undefined;
  }

  /** Resolves once nothing is pending or running (immediately when idle). */
  whenIdle(): Promise<void> {
    if (!this.busy || this.#stopped) return Promise.resolve();
    return new Promise((resolve) => this.#idleWaiters.push(resolve));
  }

  /** Stops: no new run starts; resolves when the current one (if any) has finished. */
  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    await this.#running;
    this.#notifyIdle();
  }

  #refill(): void {
    const now = this.#clock.now();
    if (this.#interval <= 0) {
      this.#tokens = this.#burst;
    } else {
      this.#tokens = Math.min(this.#burst, this.#tokens + (now - this.#refilledAt) / this.#interval);
    }
    this.#refilledAt = now;
  }

  /** The delay before the next run: backoff after a failure, none when expedited, else the coalescing delay. */
  #nextDelay(): number {
    if (this.#failures > 0) return this.#retryDelay();
    return this.#urgent ? 0 : this.#delay;
  }

  #retryDelay(): number {
    return Math.min(this.#retryMax, this.#retryInitial * 2 ** Math.max(0, this.#failures - 1));
  }

  #schedule(minDelay: number): void {
    if (this.#stopped || this.#running !== undefined) return;
    this.#refill();
    const tokenWait = this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) * this.#interval);
    const wait = Math.max(minDelay, tokenWait);
    const at = this.#clock.now() + wait;
    if (this.#timer !== undefined) {
      if (this.#timerAt <= at) return; // already due sooner
      this.#clock.clearTimeout(this.#timer);
    }
    this.#timerAt = at;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#fire();
    }, wait);
  }

  #fire(): void {
    if (this.#stopped || !this.#dirty) {
      this.#notifyIdle();
      return;
    }
    this.#refill();
    if (this.#tokens < 1) {
      this.#schedule(0);
      return;
    }
    this.#tokens -= 1;
    this.#dirty = false;
    this.#urgent = false;
    this.#runs++;
    this.#running = (async () => {
      try {
        // An empty run costs no token: it must not delay the next one that has work.
        if ((await this.#run()) === false) this.#tokens = Math.min(this.#burst, this.#tokens + 1);
        this.#failures = 0;
      } catch (err) {
        this.#dirty = true;
        this.#failures++;
        try {
          this.#onError?.(err, this.#failures);
        } catch {
          // a failing error hook must not stop the scheduler
        }
      }
    })().finally(() => {
      this.#running = undefined;
      if (this.#dirty && !this.#stopped) this.#schedule(this.#nextDelay());
      else this.#notifyIdle();
    });
  }

  #notifyIdle(): void {
    if (this.busy && !this.#stopped) return;
    const waiters = this.#idleWaiters;
    this.#idleWaiters = [];
    for (const w of waiters) w();
  }
}

/**
 * A repeating timer on a {@link Clock}: calls `fn` every `periodMs` (0 disables), not counting
 * the time `fn` takes; the period can change while it runs.
 */
export class Ticker {
  readonly #clock: Clock;
  readonly #fn: () => void;
  #period: number;
  #timer: TimerHandle | undefined;
  #stopped = false;

  constructor(clock: Clock, periodMs: number, fn: () => void) {
    this.#clock = clock;
    this.#period = periodMs;
    this.#fn = fn;
    this.#arm();
  }

  /** Changes the period; the next tick is one new period from now. */
  setPeriod(periodMs: number): void {
    if (periodMs === this.#period) return;
    this.#period = periodMs;
    this.#arm();
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #arm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped || this.#period <= 0) return;
    this.#timer = this.#clock.setTimeout(() => {
      this.#timer = undefined;
      this.#arm();
      this.#fn();
    }, this.#period);
  }
}
