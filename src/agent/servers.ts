/**
 * The agent's HTTP endpoints: health (`/liveness`, `/readiness`) and Prometheus metrics
 * (`/metrics`), started, moved to a new address when their parameters change, and closed.
 */
import type { AgentConfig, ParamName } from '../api/mod.ts';
import { type HealthAggregator, type RunningServer, startHealthServer } from './health.ts';
import type { Logger } from '../log/mod.ts';
import { type AgentMetrics, startMetricsServer } from './metrics.ts';

/** The parameters whose change moves the servers. */
export const SERVER_PARAMS: readonly ParamName[] = [
  'healthEnabled',
  'healthHost',
  'healthPort',
  'prometheusMetricsEnabled',
  'prometheusMetricsHost',
  'prometheusMetricsPort',
];

/** The health and metrics servers of one agent. */
export class AgentServers {
  readonly #health: HealthAggregator;
  readonly #metrics: AgentMetrics;
  readonly #log: Logger;
  #healthServer: RunningServer | undefined;
  #metricsServer: RunningServer | undefined;
  /** Starts, restarts and the close run one after another. */
  #queue: Promise<void> = Promise.resolve();
  #closed = false;

  constructor(health: HealthAggregator, metrics: AgentMetrics, logger: Logger) {
    this.#health = health;
    this.#metrics = metrics;
    this.#log = logger;
  }

  /** The bound health address (when serving). */
  get healthAddress(): { host: string; port: number } | undefined {
    return this.#healthServer ? { host: this.#healthServer.host, port: this.#healthServer.port } : undefined;
  }

  /** The bound metrics address (when serving). */
  get metricsAddress(): { host: string; port: number } | undefined {
    return this.#metricsServer ? { host: this.#metricsServer.host, port: this.#metricsServer.port } : undefined;
  }

  /** Starts what `config` enables; resolves once listening (rejects when an address is taken). */
  start(config: AgentConfig): Promise<void> {
    return this.#enqueue(() => this.#start(config));
  }

  /** Moves the servers to the addresses of `config` (after a parameter change). */
  restart(config: AgentConfig): Promise<void> {
    return this.#enqueue(async () => {
      await this.#close();
      await this.#start(config);
    });
  }

  /** Closes both servers (after whatever start or restart is under way). */
  close(): Promise<void> {
    this.#closed = true;
    return this.#enqueue(() => this.#close(), true);
  }

  /** Runs `job` after the others; a start or restart queued before a close does not run. */
  #enqueue(job: () => Promise<void>, evenIfClosed = false): Promise<void> {
    const next = this.#queue.then(() => (this.#closed && !evenIfClosed ? undefined : job()));
    this.#queue = next.catch(() => undefined);
    return next;
  }

  async #start(c: AgentConfig): Promise<void> {
    if (c.healthEnabled) {
      this.#healthServer = await startHealthServer(this.#health, c.healthHost, c.healthPort);
      this.#log.info({ host: this.#healthServer.host, port: this.#healthServer.port }, 'serving /liveness and /readiness');
    }
    if (c.prometheusMetricsEnabled) {
      this.#metricsServer = await startMetricsServer(this.#metrics, c.prometheusMetricsHost, c.prometheusMetricsPort);
      this.#log.info({ host: this.#metricsServer.host, port: this.#metricsServer.port }, 'serving /metrics');
    }
  }

  async #close(): Promise<void> {
    await this.#healthServer?.close();
    await this.#metricsServer?.close();
    this.#healthServer = this.#metricsServer = undefined;
  }
}
