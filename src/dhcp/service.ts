/**
 * The DHCP service of one host: follows this host's OpenStack WorkloadEndpoints and the subnets
 * Neutron's driver writes (`/calico/dhcp/v2/<region>/subnet/`), and keeps one dnsmasq serving
 * them (what networking-calico's `calico-dhcp-agent` does, driven by the same etcd data).
 *
 * ```
 * etcd ─▶ syncer (workloadendpoints, this host, orchestrator openstack) ─┐
 * etcd ─▶ syncer (subnets of the region) ────────────────────────────────┴▶ render (pure) ─▶ dnsmasq driver
 * ```
 *
 * Nothing is rendered before both syncers delivered their snapshot (a half-read datastore would
 * stop DHCP for VMs not read yet). Changes are coalesced over a short delay. A failed apply is
 * retried; a dnsmasq that died is restarted by a periodic check.
 */
import type { Datastore } from '../datastore/mod.ts';
import { resourcePrefix, type Syncer, type SyncerEvent, watchPrefix } from '../datastore/mod.ts';
import type { Logger } from '../log/mod.ts';
import { createRunner } from '../os/mod.ts';
import { DnsmasqDriver, type DnsmasqApplyOutcome } from './dnsmasq.ts';
import { decodeEndpoint, decodeSubnet, type DhcpEndpoint, type DhcpSubnet, subnetPrefix } from './model.ts';
import { renderDhcp, type DhcpRendering } from './render.ts';

/** Options of {@link DhcpService}. */
export interface DhcpServiceOptions {
  datastore: Datastore;
  /** This host's name (the endpoints' `spec.node`). */
  hostname: string;
  /** The OpenStack region ('' = `no-region`), as the driver is configured. */
  openstackRegion?: string;
  /** dnsmasq's folder. */
  dir: string;
  /** The VMs' interface patterns (default `tap*`). */
  interfaces?: string[];
  /** Lease time in seconds (default 86400). */
  leaseSeconds?: number;
  /** Serve the taps of this named network namespace (default: this process's). */
  netns?: string;
  logger: Logger;
  /** Coalescing delay in ms (default 50). */
  delayMs?: number;
  /** How often a dead dnsmasq is looked for, in ms (default 2000). */
  checkIntervalMs?: number;
}

/** Runs the host's DHCP; see the file comment. */
export class DhcpService {
  readonly driver: DnsmasqDriver;
  readonly #o: DhcpServiceOptions;
  readonly #log: Logger;
  readonly #endpoints = new Map<string, DhcpEndpoint>();
  readonly #subnets = new Map<string, DhcpSubnet>();
  readonly #synced = { endpoints: false, subnets: false };
  #syncers: Syncer[] = [];
  #timer: ReturnType<typeof setTimeout> | undefined;
  #checker: ReturnType<typeof setInterval> | undefined;
  #running: Promise<void> = Promise.resolve();
  #stopped = false;
  #applies = 0;
  #last: DhcpRendering | undefined;

  constructor(options: DhcpServiceOptions) {
    this.#o = options;
    this.#log = options.logger;
    this.driver = new DnsmasqDriver({
      dir: options.dir,
      runner: createRunner(options.netns !== undefined ? { netns: options.netns } : {}),
      ...(options.netns !== undefined ? { netns: options.netns } : {}),
      ...(options.interfaces ? { interfaces: options.interfaces } : {}),
      warn: (m) => this.#log.warn(m),
    });
  }

  /** How many times the configuration was applied (tests wait on it). */
  get applies(): number {
    return this.#applies;
  }

  /** The last configuration applied. */
  get rendering(): DhcpRendering | undefined {
    return this.#last;
  }

  /** Starts following the datastore. */
  start(): this {
    const ds = this.#o.datastore;
    const errors = (what: string) => ({ onError: (err: Error) => this.#log.warn({ err: err.message }, `DHCP: ${what} syncer error`) });
    this.#syncers = [
      watchPrefix(ds, resourcePrefix('workloadendpoints'), (events) => this.#onEndpoints(events), errors('endpoint')),
      watchPrefix(ds, subnetPrefix(this.#o.openstackRegion ?? ''), (events) => this.#onSubnets(events), errors('subnet')),
    ];
    this.#checker = setInterval(() => this.#enqueue(() => this.driver.check().then(() => undefined)), this.#o.checkIntervalMs ?? 2000);
    this.#checker.unref();
    return this;
  }

  /** Stops following the datastore; dnsmasq keeps serving (`remove` stops it too). */
  async stop(options: { remove?: boolean } = {}): Promise<void> {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    if (this.#checker) clearInterval(this.#checker);
    await Promise.all(this.#syncers.map((s) => s.stop()));
    await this.#running;
    if (options.remove) await this.driver.remove();
  }

  #onEndpoints(events: SyncerEvent[]): void {
    let changed = false;
    for (const e of events) {
      if (e.type === 'in-sync') this.#synced.endpoints = changed = true;
      else if (e.type === 'delete') changed = this.#endpoints.delete(e.key) || changed;
      else if (e.type === 'update') {
        const decoded = decodeEndpoint(e.kv.key, e.kv.value, this.#o.hostname);
        if (decoded === undefined) {
          changed = this.#endpoints.delete(e.kv.key) || changed;
          continue;
        }
        if (decoded.ok) this.#endpoints.set(e.kv.key, decoded.value);
        else {
          this.#log.warn({ key: e.kv.key, reason: decoded.reason }, 'DHCP: endpoint skipped');
          this.#endpoints.delete(e.kv.key);
        }
        changed = true;
      }
    }
    if (changed) this.#schedule();
  }

  #onSubnets(events: SyncerEvent[]): void {
    let changed = false;
    for (const e of events) {
      if (e.type === 'in-sync') this.#synced.subnets = changed = true;
      else if (e.type === 'delete') changed = this.#subnets.delete(e.key) || changed;
      else if (e.type === 'update') {
        const decoded = decodeSubnet(e.kv.key.split('/').pop()!, e.kv.value);
        if (decoded.ok) this.#subnets.set(e.kv.key, decoded.value);
        // An invalid update keeps what was known (as networking-calico's agent does).
        else this.#log.warn({ key: e.kv.key, reason: decoded.reason }, 'DHCP: subnet data skipped');
        changed = true;
      }
    }
    if (changed) this.#schedule();
  }

  #schedule(delayMs = this.#o.delayMs ?? 50): void {
    if (this.#stopped || !this.#synced.endpoints || !this.#synced.subnets || this.#timer) return;
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      this.#enqueue(() => this.#apply());
    }, delayMs);
  }

  #enqueue(job: () => Promise<void>): void {
    this.#running = this.#running.then(job).catch((err: unknown) => {
      this.#log.error({ err: (err as Error).message }, 'DHCP: applying the configuration failed; retrying');
      this.#timer = undefined;
      this.#schedule(1000);
    });
  }

  async #apply(): Promise<void> {
    if (this.#stopped) return;
    const rendering = renderDhcp([...this.#endpoints.values()], [...this.#subnets.values()], { ...(this.#o.leaseSeconds ? { leaseSeconds: this.#o.leaseSeconds } : {}) });
    for (const ep of rendering.endpoints) for (const reason of ep.skipped) this.#log.warn({ endpoint: ep.key, reason }, 'DHCP: address not served');
    const outcome: DnsmasqApplyOutcome = await this.driver.apply(rendering);
    this.#last = rendering;
    this.#applies++;
    if (outcome.action !== 'none') this.#log.info({ action: outcome.action, pid: outcome.pid, endpoints: rendering.endpoints.length, subnets: rendering.ranges.length }, 'DHCP: dnsmasq updated');
  }
}
