/**
 * The flush scheduler: turns a stream of "something changed" kicks into few, serialized runs of
 * an async job (the agent's flush → dataplane apply).
 *
 * Latency first, throttling only in a storm:
 * - A kick while nothing runs starts a run at once (in a microtask, so every kick of the same
 *   synchronous batch joins it), or after `delayMs` when a coalescing delay is configured
 *   (default 0; the status publisher and BGP use one).
 * - A kick during a run marks the state dirty: exactly one more run follows it (a "follow-up",
 *   after `delayMs` too), carrying every change that arrived meanwhile. Runs never overlap, so a
 *   burst costs few runs.
 * - Throttling: follow-up runs are a storm (changes arriving faster than they are applied). They
 *   spend a token bucket of `burst` runs, refilled at one per `intervalMs`; once it is empty a
 *   follow-up waits for a token. A run that starts from idle never waits and spends no token, so
 *   throttling bounds a storm's cost and never a single change's latency.
 * - Expediting: a change someone waits for (a CNI ADD waits for its endpoint) skips the delay
 *   and the bucket: it runs at once, or right after the run in progress.
 * - A run that reports it found nothing to do (the job resolves `false`) gives its token back.
 * - A failed run is retried with exponential backoff (`retryInitialMs` doubling to
 *   `retryMaxMs`), whatever kicks arrive meanwhile (expedited ones too); the first success resets it.
 *
 * Pure apart from the injected {@link Clock}: tests drive it with a ManualClock.
 */
import type { Clock, TimerHandle } from '../os/mod.ts';

/** Options of {@link FlushScheduler}. */
export interface FlushSchedulerOptions {
  clock: Clock;
  /** The job; kicks during a run cause one more run after it. Resolving `false` means it had nothing to do. */
  run: () => Promise<void | boolean>;
  /** Coalescing delay after a kick that finds the scheduler idle, in ms (default 0: at once). */
  delayMs?: number;
  /** Follow-up runs allowed back to back before throttling (default 10). */
  burst?: number;
  /** One more follow-up run allowed per this many ms once the burst is spent (default 100). */
  intervalMs?: number;
  /** First retry delay after a failed run, in ms (default 100). */
  retryInitialMs?: number;
  /** Longest retry delay, in ms (default 10000). */
  retryMaxMs?: number;
  /** Told about each failed run. */
  onError?: (err: unknown, consecutiveFailures: number) => void;
}

/** Serializes, coalesces and (in a storm) throttles runs of one job. */
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
  /** Set by expedite(): the next run starts without the coalescing delay or a token. */
  #urgent = false;
  /** The pending run follows a run during which changes arrived (a storm): it needs a token. */
  #followUp = false;
  /** An armed start (timer or microtask); a newer arming or a disarm bumps the generation. */
  #armed = false;
  #armedAt = 0;
  #generation = 0;
  #timer: TimerHandle | undefined;
  #running: Promise<void> | undefined;
  #failures = 0;
  #stopped = false;
  #runs = 0;
  #idleWaiters: Array<() => void> = [];

  constructor(options: FlushSchedulerOptions) {
    this.#clock = options.clock;
    this.#run = options.run;
    this.#delay = options.delayMs ?? 0;
    this.#burst = Math.max(1, options.burst ?? 10);
    this.#interval = options.intervalMs ?? 100;
    this.#retryInitial = options.retryInitialMs ?? 100;
    this.#retryMax = options.retryMaxMs ?? 10_000;
    this.#onError = options.onError;
    this.#tokens = this.#burst;
    this.#refilledAt = this.#clock.now();
  }

  /** Something changed: run the job soon (at once when idle and no delay is configured). */
  kick(): void {
    if (this.#stopped) return;
    this.#dirty = true;
    this.#schedule();
  }

  /**
   * Something changed that a caller is waiting for: run without the coalescing delay or the
   * storm throttle, as soon as no run is in progress. The retry backoff still applies.
   */
  expedite(): void {
    if (this.#stopped) return;
    this.#dirty = true;
    this.#urgent = true;
    this.#schedule();
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
    this.#disarm();
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

  /** How long the pending run must wait: the retry backoff, a storm's token, the idle coalescing delay, or nothing. */
  #waitBeforeRun(): number {
    if (this.#failures > 0) return this.#retryDelay();
    if (this.#urgent) return 0;
    if (!this.#followUp) return this.#delay;
    this.#refill();
    return Math.max(this.#delay, this.#tokens >= 1 ? 0 : Math.ceil((1 - this.#tokens) * this.#interval));
  }

  #retryDelay(): number {
    return Math.min(this.#retryMax, this.#retryInitial * 2 ** Math.max(0, this.#failures - 1));
  }

  /** Arms the start of the pending run (keeping an earlier one); nothing while a run is in progress. */
  #schedule(): void {
    if (this.#stopped || this.#running !== undefined || !this.#dirty) return;
    const wait = this.#waitBeforeRun();
    const at = this.#clock.now() + wait;
    if (this.#armed && this.#armedAt <= at) return; // already due sooner
    this.#disarm();
    this.#armed = true;
    this.#armedAt = at;
    const generation = this.#generation;
    const start = (): void => {
      if (generation !== this.#generation) return;
      this.#armed = false;
      this.#timer = undefined;
      this.#fire();
    };
    // At once means after the current synchronous work: every kick of the same batch joins the run.
    if (wait <= 0) queueMicrotask(start);
    else this.#timer = this.#clock.setTimeout(start, wait);
  }

  #disarm(): void {
    if (this.#timer !== undefined) this.#clock.clearTimeout(this.#timer);
    this.#timer = undefined;
    this.#armed = false;
    this.#generation++;
  }

  #fire(): void {
    if (this.#stopped || !this.#dirty) {
      this.#notifyIdle();
      return;
    }
    const spent = this.#followUp && !this.#urgent && this.#failures === 0;
    if (spent) {
      this.#refill();
      if (this.#tokens < 1) {
        this.#schedule(); // no token yet: wait for the bucket to refill
        return;
      }
    }
    if (spent) this.#tokens -= 1;
    this.#dirty = false;
    this.#urgent = false;
    this.#followUp = false;
    this.#runs++;
    this.#running = (async () => {
      try {
        // An empty run costs no token: it must not delay the next one that has work.
        if ((await this.#run()) === false && spent) this.#tokens = Math.min(this.#burst, this.#tokens + 1);
        this.#failures = 0;
        // Changes that arrived during this run: the next run follows it back to back (a storm).
        this.#followUp = this.#dirty;
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
      if (this.#dirty && !this.#stopped) this.#schedule();
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
