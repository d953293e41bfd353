/**
 * The agent's status in the datastore, kept current: the host's status key renewed every
 * `reportingInterval` (and when readiness changes), and the endpoint statuses written, coalesced
 * over `endpointReportingDelay`, whenever what is programmed changes (status.ts has the keys and
 * the writes).
 */
import type { AgentConfig } from '../api/mod.ts';
import type { Clock } from '../os/mod.ts';
import type { Datastore } from '../datastore/mod.ts';
import { describe } from './flush-loop.ts';
import type { Logger } from '../log/mod.ts';
import type { Foreground } from './foreground.ts';
import { FlushScheduler, Ticker } from './scheduler.ts';
import { endpointStatuses, type EndpointStatus, type EndpointStatusInput, StatusReporter, statusRegion, type WorkloadStatusId } from './status.ts';

/** What the host status says besides its times (status.ts: `in_sync`, `ready`, `last_in_sync`). */
export interface HostState {
  inSync: boolean;
  ready: boolean;
  lastInSync: number | undefined;
}

/** Options of {@link StatusPublisher}. */
export interface StatusPublisherOptions {
  datastore: Datastore;
  config: AgentConfig;
  clock: Clock;
  /** Wall-clock milliseconds since the epoch. */
  now: () => number;
  logger: Logger;
  /** The host's state now. */
  hostState: () => HostState;
  /** Work someone waits for (CNI ADDs): each write waits until none is in progress, at most {@link FOREGROUND_WAIT_MS}. */
  foreground?: Foreground;
}

/** The longest a status write waits for foreground work to end (a report is late, never lost). */
export const FOREGROUND_WAIT_MS = 1000;

/** Writes and renews the agent's status keys. */
export class StatusPublisher {
  readonly #reporter: StatusReporter;
  readonly #scheduler: FlushScheduler;
  readonly #clock: Clock;
  readonly #log: Logger;
  readonly #hostState: () => HostState;
  readonly #foreground: Foreground | undefined;
  /** Region and host are fixed for the agent's life (a region change needs a restart). */
  readonly #region: string;
  readonly #host: string;
  #interval: number;
  #enabled: boolean;
  /** Each workload identity's status key (region and host are fixed for the agent's life). */
  readonly #statusKeys = new WeakMap<WorkloadStatusId, string>();
  /** What is programmed, as last told ({@link updateEndpoints}); read when the statuses are written. */
  #input: Omit<EndpointStatusInput, 'region' | 'host'> | undefined;
  #ticker: Ticker | undefined;
  #stopped = false;

  constructor(options: StatusPublisherOptions) {
    const c = options.config;
    this.#clock = options.clock;
    this.#log = options.logger;
    this.#hostState = options.hostState;
    this.#foreground = options.foreground;
    this.#region = statusRegion(c.openstackRegion);
    this.#host = c.felixHostname;
    this.#interval = c.reportingInterval;
    this.#enabled = c.endpointReportingEnabled;
    this.#reporter = new StatusReporter({
      datastore: options.datastore,
      hostname: c.felixHostname,
      region: this.#region,
      logger: options.logger,
      ttlSeconds: c.reportingTTL / 1000,
      now: options.now,
    });
    this.#scheduler = new FlushScheduler({
      clock: options.clock,
      run: async () => {
        await this.#outOfTheWay();
        this.#desiredStatuses();
        await this.#reporter.flushEndpoints();
      },
      delayMs: c.endpointReportingDelay,
      burst: 1,
      intervalMs: c.endpointReportingDelay,
      retryInitialMs: 1000,
      retryMaxMs: 30_000,
      onError: (err) => this.#log.debug({ err: describe(err) }, 'endpoint status write failed; retrying'),
    });
  }

  /** Starts renewing the host status. */
  start(): void {
    this.#ticker ??= new Ticker(this.#clock, this.#interval, () => void this.reportHost());
  }

  /** Follows changed reporting parameters (interval, lease, endpoint reporting on or off). */
  reconfigure(config: AgentConfig): void {
    this.#interval = config.reportingInterval;
    this.#ticker?.setPeriod(config.reportingInterval);
    this.#reporter.ttlSeconds = config.reportingTTL / 1000;
    this.#enabled = config.endpointReportingEnabled;
  }

  /**
   * What is programmed changed: write the endpoint statuses that changed (none while reporting is
   * off). The statuses are computed when they are written, after the reporting delay, from what
   * is programmed then (`input` is the agent's live state): once per write, not once per flush
   * (every ADD's flush rebuilt them all, O(local endpoints) on the ADD's path, docs/cni.md
   * session 12).
   */
  updateEndpoints(input: Omit<EndpointStatusInput, 'region' | 'host'>): void {
    this.#input = input;
    this.#scheduler.kick();
  }

  /** The statuses of what is programmed now, handed to the reporter (which writes the difference). */
  #desiredStatuses(): void {
    const input = this.#input;
    if (input === undefined) return;
    const statuses = this.#enabled ? endpointStatuses({ ...input, region: this.#region, host: this.#host }, this.#statusKeys) : new Map<string, EndpointStatus>();
    this.#reporter.setEndpointStatuses(statuses);
  }

  /** Writes the host status now; a failure waits for the next report. */
  async reportHost(): Promise<void> {
    if (this.#stopped) return;
    try {
      await this.#outOfTheWay();
      // Stopped while waiting: the lease may be revoked already, a write now would outlive the agent.
      if (this.#stopped) return;
      await this.#reporter.reportHost(this.#hostState());
    } catch (err) {
      this.#log.debug({ err: describe(err) }, 'host status write failed; will retry');
    }
  }

  /** Waits until no foreground work is in progress (bounded), unless stopping. */
  async #outOfTheWay(): Promise<void> {
    if (!this.#stopped) await this.#foreground?.idle(FOREGROUND_WAIT_MS);
  }

  /** No more host reports from now on (the agent is stopping). */
  pause(): void {
    this.#stopped = true;
    this.#ticker?.stop();
  }

  /** Stops renewing and writing; revokes the host status lease (within `deadlineMs`). */
  async stop(deadlineMs = 2000): Promise<void> {
    this.pause();
    await this.#scheduler.stop();
    let timer: ReturnType<typeof setTimeout> | undefined;
    await Promise.race([this.#reporter.close(), new Promise<void>((resolve) => (timer = setTimeout(resolve, deadlineMs)))]);
    clearTimeout(timer);
  }
}
