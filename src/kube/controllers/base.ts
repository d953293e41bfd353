/**
 * What the Kubernetes controllers share: a queue of keys synced one by one between full resyncs,
 * a full resync at start and every period (one at a time: a resync asked for during one runs once
 * more after it), and stopping.
 */
import { type Logger, silentLogger } from '../../log/mod.ts';
import { MAX_TIMER_MS } from '../../os/mod.ts';
import { KeyedQueue } from './queue.ts';

/** Options of {@link ResyncingController}. */
export interface ResyncingOptions {
  /** Full resync period, ms (0: only at start and when asked). */
  periodMs: number;
  logger?: Logger;
}

/** See the module comment. */
export abstract class ResyncingController<Report> {
  abstract readonly name: string;
  protected readonly logger: Logger;
  protected readonly queue: KeyedQueue;
  readonly #periodMs: number;
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;
  #resyncing: Promise<Report> | undefined;
  #again = false;

  constructor(options: ResyncingOptions, what: string) {
    this.logger = options.logger ?? silentLogger();
    this.#periodMs = options.periodMs;
    this.queue = new KeyedQueue((key) => this.syncKey(key), { logger: this.logger, what });
  }

  /** Syncs the one object behind `key`. */
  protected abstract syncKey(key: string): Promise<void>;

  /** Does one full resync. */
  protected abstract fullResync(): Promise<Report>;

  protected get stopped(): boolean {
    return this.#stopped;
  }

  /** A full resync now, or right after the one running. */
  resync(): Promise<Report> {
    if (this.#resyncing) {
      this.#again = true;
      return this.#resyncing;
    }
    const run = this.fullResync();
    this.#resyncing = run;
    void run
      .catch((err: Error) => this.logger.warn({ controller: this.name, err: err.message }, 'resync failed; the next one retries'))
      .finally(() => {
        this.#resyncing = undefined;
        if (this.#again && !this.#stopped) {
          this.#again = false;
          void this.resync().catch(() => {});
        }
      });
    return run;
  }

  /** The first full resync, then one every period (also when the first one failed). */
  async start(): Promise<void> {
    // A period beyond Node's timer range (~24.8 days) would fire at once; cap it there.
    if (this.#periodMs > 0 && !this.#stopped) this.#timer = setInterval(() => void this.resync().catch(() => {}), Math.min(this.#periodMs, MAX_TIMER_MS));
    await this.resync();
  }

  /** Stops the periodic resync and the queue; waits for the work in flight. */
  async stop(): Promise<void> {
    this.#stopped = true;
    clearInterval(this.#timer);
    await this.queue.stop();
    await this.#resyncing?.catch(() => undefined);
  }

  /** Resolves when no single-object sync is pending. */
  idle(): Promise<void> {
    return this.queue.idle();
  }
}
