/**
 * BGP in the node process: a {@link BgpController} fed from the agent's syncers (its
 * {@link BgpLoop.listener} subscribes to the agent's datastore feed) and driven by the agent's
 * scheduler: a burst of changes becomes one render and reload, a failed one is retried with
 * backoff, and a periodic resync re-renders (secrets that appeared) and checks the tunnel
 * addresses again.
 */
import type { BgpController } from '../bgp/mod.ts';
import type { Clock } from '../os/mod.ts';
import type { DatastoreListener } from './datastore-feed.ts';
import type { Logger } from '../log/mod.ts';
import { FlushScheduler, Ticker } from './scheduler.ts';

/** Options of {@link BgpLoop}. */
export interface BgpLoopOptions {
  bgp: BgpController;
  clock: Clock;
  logger?: Logger;
  /** Wait this long after a change before rendering, so a burst becomes one reload (default 100 ms). */
  debounceMs?: number;
  /** Re-render and re-check this often even without changes (default 60000 ms; 0: never). */
  resyncIntervalMs?: number;
  /** Look for the routers of unnumbered uplinks this often (default 2000 ms; nothing is run without such peers). */
  discoveryIntervalMs?: number;
}

/** Runs one host's BGP controller on the agent's feed and scheduler. */
export class BgpLoop {
  /** Subscribe this to the agent's datastore feed (before the agent starts). */
  readonly listener: DatastoreListener;
  readonly #bgp: BgpController;
  readonly #clock: Clock;
  readonly #scheduler: FlushScheduler;
  readonly #resyncMs: number;
  readonly #discoveryMs: number;
  #ticker: Ticker | undefined;
  #discovery: Ticker | undefined;

  constructor(options: BgpLoopOptions) {
    this.#bgp = options.bgp;
    this.#clock = options.clock;
    this.#resyncMs = options.resyncIntervalMs ?? 60_000;
    this.#discoveryMs = options.discoveryIntervalMs ?? 2000;
    const log = options.logger;
    this.#scheduler = new FlushScheduler({
      clock: options.clock,
      run: () => this.#bgp.apply(),
      delayMs: options.debounceMs ?? 100,
      retryInitialMs: 1000,
      retryMaxMs: 30_000,
      // The controller logs what failed; the scheduler retries it.
      onError: (_err, failures) => log?.debug({ failures }, 'BGP apply failed; retrying'),
    });
    this.listener = {
      onUpdate: (key, value) => {
        if (this.#bgp.onUpdate(key, value) && this.#bgp.inSync) this.#scheduler.kick();
      },
      onInSync: () => {
        this.#bgp.onInSync();
        this.#scheduler.expedite();
      },
    };
  }

  /** Starts the periodic resync (the feed drives everything else). */
  start(): void {
    this.#ticker ??= new Ticker(this.#clock, this.#resyncMs, () => {
      this.#bgp.requestResync();
      this.#scheduler.kick();
    });
    // Unnumbered peers that connect to the routers they find (BIRD cannot find them itself).
    this.#discovery ??= new Ticker(this.#clock, this.#discoveryMs, () => {
      void this.#bgp.discoverPeers().then((changed) => changed && this.#scheduler.kick(), () => undefined);
    });
  }

  /** Renders and applies now if something is pending; resolves when no apply is pending or running. */
  async flush(): Promise<void> {
    if (this.#scheduler.busy) this.#scheduler.expedite();
    await this.#scheduler.whenIdle();
  }

  /** Stops scheduling; resolves when an apply under way has finished (BIRD is the controller's to stop). */
  async stop(): Promise<void> {
    this.#ticker?.stop();
    this.#discovery?.stop();
    await this.#scheduler.stop();
  }
}
