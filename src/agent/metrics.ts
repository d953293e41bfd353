/**
 * The agent's Prometheus metrics, in their own registry (never prom-client's global one, so
 * that tests and several agents in one process stay apart). Names follow Felix's where one
 * exists, with the `margay_` prefix and base units:
 *
 * | metric | type | Felix |
 * |---|---|---|
 * | margay_active_local_endpoints | gauge | felix_active_local_endpoints |
 * | margay_active_local_policies | gauge | felix_active_local_policies |
 * | margay_active_local_selectors | gauge (IP sets in use) | felix_active_local_selectors |
 * | margay_calc_graph_update_seconds | histogram (one datastore batch through the graph) | felix_calc_graph_update_time_seconds |
 * | margay_resync_state | gauge: 1 waiting for the datastore, 2 resyncing, 3 in sync | felix_resync_state |
 * | margay_in_sync | gauge 0/1: the dataplane has been programmed from a complete snapshot | |
 * | margay_dataplane_apply_seconds | histogram (one flush applied to the kernel) | |
 * | margay_dataplane_resync_seconds | histogram (one full dataplane resync) | |
 * | margay_dataplane_errors_total | counter, label `operation` (apply, resync) | |
 * | margay_dataplane_transactions_total | counter, label `via`: `netlink` (elements only) or `nft` | |
 * | margay_policy_programming_latency_seconds | histogram: datastore change received → kernel programmed | |
 * | margay_datastore_updates_total | counter: keys received from the syncer | |
 * | margay_cluster_num_hosts | gauge: Nodes in the datastore | felix_cluster_num_hosts |
 *
 * `process_*` and `nodejs_*` come from prom-client's default collectors when
 * `prometheusProcessMetricsEnabled` is on.
 */
import { createServer } from 'node:http';
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import { listen, type RunningServer } from './health.ts';

/** Felix's `felix_resync_state` values. */
export const RESYNC_STATE = { waitForDatastore: 1, resyncing: 2, inSync: 3 } as const;

const SECONDS_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/** The agent's metrics. */
export class AgentMetrics {
  readonly registry = new Registry();
  readonly activeLocalEndpoints: Gauge;
  readonly activeLocalPolicies: Gauge;
  readonly activeLocalSelectors: Gauge;
  readonly calcGraphUpdateSeconds: Histogram;
  readonly resyncState: Gauge;
  readonly inSync: Gauge;
  readonly dataplaneApplySeconds: Histogram;
  readonly dataplaneResyncSeconds: Histogram;
  readonly dataplaneErrors: Counter<'operation'>;
  readonly dataplaneTransactions: Counter<'via'>;
  readonly policyProgrammingLatencySeconds: Histogram;
  readonly datastoreUpdates: Counter;
  readonly clusterNumHosts: Gauge;

  constructor(options: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.activeLocalEndpoints = new Gauge({ name: 'margay_active_local_endpoints', help: 'Number of active endpoints on this host (workload and host endpoints).', registers });
    this.activeLocalPolicies = new Gauge({ name: 'margay_active_local_policies', help: 'Number of policies and profiles programmed on this host.', registers });
    this.activeLocalSelectors = new Gauge({ name: 'margay_active_local_selectors', help: 'Number of IP sets (selectors, nets, named ports) programmed on this host.', registers });
    this.calcGraphUpdateSeconds = new Histogram({
      name: 'margay_calc_graph_update_seconds',
      help: 'Time to process one batch of datastore updates through the calculation graph.',
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.resyncState = new Gauge({ name: 'margay_resync_state', help: 'Datastore state: 1 waiting for the datastore, 2 resyncing, 3 in sync.', registers });
    this.inSync = new Gauge({ name: 'margay_in_sync', help: '1 once the dataplane has been programmed from a complete datastore snapshot and the datastore is connected.', registers });
    this.dataplaneApplySeconds = new Histogram({
      name: 'margay_dataplane_apply_seconds',
      help: 'Time to apply one coalesced batch of updates to the kernel.',
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.dataplaneResyncSeconds = new Histogram({
      name: 'margay_dataplane_resync_seconds',
      help: 'Time of one full dataplane resync (read the kernel, repair drift).',
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.dataplaneErrors = new Counter({
      name: 'margay_dataplane_errors_total',
      help: 'Failed dataplane operations, by operation (apply, resync).',
      labelNames: ['operation'],
      registers,
    });
    this.dataplaneTransactions = new Counter({
      name: 'margay_dataplane_transactions_total',
      help: 'nftables transactions applied, by how they were sent: netlink (set and map elements only, without nft) or nft.',
      labelNames: ['via'],
      registers,
    });
    this.policyProgrammingLatencySeconds = new Histogram({
      name: 'margay_policy_programming_latency_seconds',
      help: 'Time from receiving a datastore change to the kernel being programmed with it (after the first in-sync).',
      buckets: SECONDS_BUCKETS,
      registers,
    });
    this.datastoreUpdates = new Counter({ name: 'margay_datastore_updates_total', help: 'Datastore keys updated or deleted, as received from the syncer.', registers });
    this.clusterNumHosts = new Gauge({ name: 'margay_cluster_num_hosts', help: 'Number of Nodes in the datastore.', registers });
    this.resyncState.set(RESYNC_STATE.waitForDatastore);
    this.inSync.set(0);
    this.dataplaneErrors.inc({ operation: 'apply' }, 0);
    this.dataplaneErrors.inc({ operation: 'resync' }, 0);
    if (options.processMetrics ?? true) collectDefaultMetrics({ register: this.registry });
  }

  /** The exposition text. */
  text(): Promise<string> {
    return this.registry.metrics();
  }
}

/** Serves `GET /metrics` from `metrics` on `host:port`. */
export function startMetricsServer(metrics: AgentMetrics, host: string, port: number): Promise<RunningServer> {
  const server = createServer((req, res) => {
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    if (path !== '/metrics' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /metrics\n');
      return;
    }
    metrics.text().then(
      (body) => {
        res.writeHead(200, { 'content-type': metrics.registry.contentType });
        res.end(req.method === 'HEAD' ? undefined : body);
      },
      (err: unknown) => {
        res.writeHead(500, { 'content-type': 'text/plain' }).end(`metrics collection failed: ${String(err)}\n`);
      },
    );
  });
  return listen(server, host, port);
}
