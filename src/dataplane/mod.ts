/**
 * The dataplane: turns {@link DataplaneUpdate}s into kernel state (nftables table `inet margay`,
 * routes of Margay's protocol, VXLAN) and keeps it right. Felix-style: every message goes to
 * every {@link Manager} (nftables: IP sets, policies, endpoints, fixed chains; routes; VXLAN),
 * which record it; then each completes its desired state, and the drivers (nftables, routes,
 * VXLAN) diff it against the kernel and apply the difference, side by side.
 *
 * ```ts
 * const dp = new Dataplane({ netns: 'lab-host-1' }); // or {} for the root namespace of a real host
 * await dp.apply(updatesFromTheSequencer);          // one nft transaction + route changes
 * setInterval(() => void dp.resync(), 90_000);        // repair drift
 * ```
 *
 * Nothing is written before the first `in-sync` update (the updates are recorded meanwhile). Calls
 * are serialised: an apply that arrives while another runs waits for it. Nothing is spawned by
 * Node per apply: small nft transactions go to a resident `nft -i`, route changes to a resident
 * `ip -batch`, other commands run from resident shells inside the namespace (os/resident.ts,
 * os/shell.ts); `close()` stops them.
 */
import type { DataplaneUpdate } from '../calc/mod.ts';
import { writeSysctl } from './links/links.ts';
import { renderTable } from './nftables/diff.ts';
import { nextTurn, NftablesDriver, type NftApplyOutcome, type NftElementWriter } from './nftables/driver.ts';
import type { KernelTable } from './nftables/kernel.ts';
import { NftablesManager } from './nftables/manager.ts';
import { NftSession } from './nftables/session.ts';
import { emptyDirty } from './nftables/state.ts';
import { IpSession } from './routes/ip-session.ts';
import type { MarkBits } from './nftables/settings.ts';
import type { Manager } from './manager.ts';
import { MARGAY_ROUTE_PROTOCOL, RouteDriver, RouteManager, type KernelRoute, type RouteApplyOutcome, type RouteError } from './routes/routes.ts';
import { type CommandRunner, findNetlinkHelper, NetlinkHelper, ShellPool } from '../os/mod.ts';
import { VxlanDriver, type VxlanDriverOptions } from './vxlan/driver.ts';
import { VxlanManager } from './vxlan/manager.ts';
import { LinkMonitor } from './links/monitor.ts';
import { workloadInterfaceSysctls } from './links/links.ts';
import type { DataplaneSettings } from '../calc/mod.ts';

/** Options of {@link Dataplane}. */
export interface DataplaneOptions {
  /** Program this named network namespace (every command runs through `ip netns exec`). */
  netns?: string;
  /** Run commands through this runner instead of resident shells (tests, or a custom way into a namespace). */
  runner?: CommandRunner;
  /** nftables table name (family `inet`); default `margay`. */
  table?: string;
  /** Route protocol number; default 77. */
  routeProtocol?: number;
  /** Packet-mark bits; default accept 0x10000, pass 0x20000, scratch 0x40000/0x80000. */
  marks?: MarkBits;
  /** Write before the first `in-sync` (tests that drive the dataplane by hand); default false. */
  writeBeforeInSync?: boolean;
  /** Check each transaction with `nft -c` before applying it; default false. */
  checkFirst?: boolean;
  /** Receives one-line warnings (input ignored or repaired). */
  warn?: (message: string) => void;
  /**
   * Program VXLAN (`vxlan-update` messages: devices, VTEPs, routes of protocol 78) for pools with
   * vxlanMode Always/CrossSubnet; default false (the messages are ignored).
   */
  vxlan?: boolean | Omit<VxlanDriverOptions, 'runner'>;
  /**
   * Watch the namespace's links (default false): a workload interface that appears (an OpenStack
   * VM's tap, made after its endpoint) gets its host-side sysctls (proxy ARP, forwarding…) and
   * the routes that waited for it.
   */
  watchLinks?: boolean;
  /**
   * The `margay-netlink` helper binary, for nftables transactions without nft (netlink-batch.ts);
   * `false` for none (everything through nft). Default: the built helper when there is one and
   * no custom runner.
   */
  netlinkHelper?: string | false;
  /**
   * Send nftables netlink batches (and a load ahead's stream) through this writer instead of a
   * `margay-netlink` helper, which is then not started (the code cache's warm-up, tests).
   */
  elementWriter?: NftElementWriter;
  /**
   * Cold start (no Margay table in the kernel): when the first apply renders at least this many
   * policies, its IP sets and policy chains are loaded ahead, by nft on another core, while the
   * rest is rendered (nftables/load-ahead.ts); `false`: never. Default
   * {@link LOAD_AHEAD_MIN_POLICIES}.
   */
  loadAheadMinPolicies?: number | false;
  /**
   * Load ahead as netlink batches streamed through the helper while the managers render, the
   * policy-list chains included (nftables/ahead-stream.ts), instead of one `nft -f` of the sets
   * and policy chains. Default: on when the helper is there, unless `MARGAY_LOAD_AHEAD=nft`.
   */
  loadAheadNetlink?: boolean;
  /**
   * A cold start's last transaction goes as netlink batches when it can. Default: on, unless
   * `MARGAY_SWITCH_ON=nft`.
   */
  switchOnNetlink?: boolean;
}

/**
 * Policies a first apply must render before its sets and policy chains are loaded ahead: below,
 * a second transaction costs more than the overlap saves.
 */
export const LOAD_AHEAD_MIN_POLICIES = 500;

/** The outcome of one {@link Dataplane.apply} or {@link Dataplane.resync}. */
export interface ApplyResult {
  /** True when everything was programmed (no nft error, no route error). */
  ok: boolean;
  /** True when nothing was written because the first `in-sync` has not arrived. */
  deferred: boolean;
  nft: NftApplyOutcome;
  routes: { added: number; replaced: number; removed: number; errors: RouteError[]; fullSync: boolean };
  /** What VXLAN programming did (absent when there was nothing to do, or VXLAN is off). */
  vxlan?: { changes: number; errors: string[] };
  /**
   * Workload endpoint keys whose update or removal this call programmed successfully (for
   * per-endpoint status reporting).
   */
  programmedEndpoints: string[];
  /** Workload endpoint keys whose programming failed (the nft transaction was rejected; retried on the next apply). */
  failedEndpoints: string[];
  durationMs: number;
}

/** Counters for metrics. */
export interface DataplaneStats {
  /** nft transactions applied successfully. */
  transactions: number;
  /** nft transactions the kernel rejected. */
  transactionErrors: number;
  /** Of the applied transactions, those sent as netlink batches (no nft process). */
  netlinkTransactions: number;
  /** Commands in all applied transactions. */
  nftCommands: number;
  /** Route changes that failed. */
  routeErrors: number;
  /** Full comparisons with the kernel (startup, resync, after an error). */
  fullSyncs: number;
  /** Calls to apply and resync. */
  applies: number;
  /** Duration of the last apply or resync in milliseconds. */
  lastApplyDurationMs: number;
  /** When the last apply or resync finished (ms since the epoch), 0 before the first. */
  lastApplyAt: number;
  /** True once the first `in-sync` arrived. */
  inSync: boolean;
}

/** What the kernel holds of Margay's state. */
export interface KernelState {
  nft: KernelTable;
  routes: KernelRoute[];
}

/** Policy lists per part of a load ahead streamed while the endpoints render (a few hundred rules each). */
const LISTS_PER_PART = 8;

/** The dataplane facade the agent calls after every sequencer flush. */
export class Dataplane {
  readonly runner: CommandRunner;
  /** The resident shells commands run on (none with a custom runner). */
  private readonly shells: ShellPool | undefined;
  /** The resident `nft -i` for small transactions (none with a custom runner). */
  private readonly session: NftSession | undefined;
  /** The resident `ip -force -batch -` for route changes (none with a custom runner). */
  private readonly ipSession: IpSession | undefined;
  /** The resident `margay-netlink` for nftables transactions without nft (none without the helper). */
  private readonly netlink: NetlinkHelper | undefined;
  private readonly netns: string | undefined;
  private readonly nftManager: NftablesManager;
  private readonly nftDriver: NftablesDriver;
  private readonly routeManager: RouteManager;
  private readonly routeDriver: RouteDriver;
  private readonly vxlanManager: VxlanManager | undefined;
  /** Every manager, in the order they complete their work. */
  private readonly managers: Manager[];
  private readonly writeBeforeInSync: boolean;
  private readonly loadAheadMinPolicies: number | false;
  private inSync = false;
  /** Endpoints whose last transaction failed, reported as programmed once one succeeds. */
  private readonly unprogrammed = new Set<string>();
  /** Set when some route failed, so the next apply retries even without route changes. */
  private routeRetry = false;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly linkMonitor: LinkMonitor | undefined;
  /** Workload interfaces reported by the link monitor and not handled yet. */
  private readonly newLinks = new Set<string>();
  /** Of {@link newLinks}, those last seen up. */
  private readonly upLinks = new Set<string>();
  private settings: DataplaneSettings | undefined;
  private readonly counters: DataplaneStats = {
    transactions: 0,
    transactionErrors: 0,
    netlinkTransactions: 0,
    nftCommands: 0,
    routeErrors: 0,
    fullSyncs: 0,
    applies: 0,
    lastApplyDurationMs: 0,
    lastApplyAt: 0,
    inSync: false,
  };

  constructor(options: DataplaneOptions = {}) {
    this.netns = options.netns;
    if (options.runner) {
      this.runner = options.runner;
    } else {
      // Two shells: the nft transaction and the route batch of one apply run side by side.
      const shells = new ShellPool({ ...(options.netns !== undefined ? { netns: `/run/netns/${options.netns}` } : {}), size: 2, timeoutMs: 120_000 });
      this.shells = shells;
      this.runner = (cmd, args, runOptions) => shells.exec(cmd, args, runOptions);
      const where = options.netns !== undefined ? { netns: `/run/netns/${options.netns}` } : {};
      this.session = new NftSession(where);
      this.ipSession = new IpSession(where);
    }
    const helper = options.elementWriter ? false : (options.netlinkHelper ?? (options.runner ? false : findNetlinkHelper() ?? false));
    if (helper !== false) this.netlink = new NetlinkHelper({ binary: helper, ...(options.netns !== undefined ? { netns: `/run/netns/${options.netns}` } : {}), timeoutMs: 120_000 });
    const writer = options.elementWriter ?? (this.netlink ? helperWriter(this.netlink) : undefined);
    const loadAheadNetlink = options.loadAheadNetlink ?? process.env.MARGAY_LOAD_AHEAD !== 'nft';
    const warn = options.warn;
    this.nftManager = new NftablesManager({ ...(options.marks ? { marks: options.marks } : {}), ...(warn ? { warn } : {}) });
    this.nftDriver = new NftablesDriver(this.runner, {
      ...(options.table !== undefined ? { table: options.table } : {}),
      ...(options.checkFirst !== undefined ? { checkFirst: options.checkFirst } : {}),
      ...(this.session ? { session: this.session } : {}),
      ...(writer ? { elementWriter: loadAheadNetlink ? writer : { applyBatch: (batch: Buffer) => writer.applyBatch(batch) } } : {}),
      ...(options.switchOnNetlink !== undefined ? { switchOnNetlink: options.switchOnNetlink } : {}),
    });
    this.routeManager = new RouteManager(warn ? { warn } : {});
    this.routeDriver = new RouteDriver(this.runner, {
      protocol: options.routeProtocol ?? MARGAY_ROUTE_PROTOCOL,
      ...(this.ipSession ? { session: this.ipSession } : {}),
    });
    if (options.vxlan) {
      const driver = new VxlanDriver({ ...(typeof options.vxlan === 'object' ? options.vxlan : {}), runner: this.runner });
      this.vxlanManager = new VxlanManager({ driver, ...(warn ? { warn } : {}) });
    }
    this.managers = [this.nftManager, this.routeManager, ...(this.vxlanManager ? [this.vxlanManager] : [])];
    this.writeBeforeInSync = options.writeBeforeInSync ?? false;
    this.loadAheadMinPolicies = options.loadAheadMinPolicies ?? LOAD_AHEAD_MIN_POLICIES;
    if (options.watchLinks) {
      this.linkMonitor = new LinkMonitor({
        ...(options.netns !== undefined ? { netns: options.netns } : {}),
        prefixes: () => this.settings?.interfacePrefixes ?? [],
        onLink: (name, up) => this.onLink(name, up),
      });
    }
  }

  /** A workload interface appeared or changed: its sysctls, then the routes that waited for it. */
  private onLink(name: string, up: boolean): void {
    const first = this.newLinks.size === 0;
    this.newLinks.add(name);
    if (up) this.upLinks.add(name);
    else this.upLinks.delete(name);
    if (!first) return; // one job handles the burst
    void this.serialise(async () => {
      const names = [...this.newLinks];
      const upNames = new Set(this.upLinks);
      this.newLinks.clear();
      this.upLinks.clear();
      const ipv6 = this.settings?.ipv6Enabled ?? false;
      for (const iface of names) {
        try {
          await this.writeSysctls(workloadInterfaceSysctls(iface, { ipv4: true, ipv6 }));
        } catch {
          // Gone again already (a veth torn down at once): nothing to configure.
        }
      }
      // A device that went down lost its routes in the kernel (one deleted and made again under
      // the same name too), behind the route driver's view: once it is up, the routes are read
      // again. Not on a down event: a veth being deleted reports one first, and nothing can be
      // restored through a device that is down.
      const stale = this.routeDriver.hasRoutesVia(upNames);
      if ((stale || this.routeRetry) && (this.inSync || this.writeBeforeInSync)) await this.applyRoutes(stale);
    });
  }

  /** Records `updates` and programs the kernel: one nft transaction, then the route changes. */
  apply(updates: readonly DataplaneUpdate[]): Promise<ApplyResult> {
    return this.serialise(() => this.run(updates, false));
  }

  /** Re-reads the kernel and repairs anything that differs from the desired state. */
  resync(): Promise<ApplyResult> {
    return this.serialise(() => this.run([], true));
  }

  /** True when policy chains and sets that changes left unused wait in the kernel (see {@link tidy}). */
  untidy(): boolean {
    return this.nftDriver.orphanCount > 0;
  }

  /**
   * Deletes the policy chains and sets earlier applies left unused in the kernel (the nftables
   * driver keeps them for a while so that those applies stay small; nothing refers to them).
   */
  tidy(): Promise<ApplyResult> {
    return this.serialise(async () => {
      const started = performance.now();
      const result = this.emptyResult();
      if (this.inSync) {
        result.nft = await this.nftDriver.apply(this.nftManager.desired, emptyDirty(), { tidy: true });
        this.countNft(result);
      }
      return this.finish(result, started);
    });
  }

  /**
   * Workload routes the CNI has just added itself (our protocol): the route driver then takes
   * them as in place instead of re-reading the kernel when its own add meets them. Not serialised
   * with applies: it records a fact about the kernel, whichever apply runs.
   */
  learnWorkloadRoutes(routes: ReadonlyArray<{ dst: string; dev: string }>): void {
    this.routeDriver.learn(routes);
  }

  /** Forgets the CNI's reports of routes through `dev` (its attachment was deleted, or its ADD failed). */
  forgetWorkloadRoutes(dev: string): void {
    this.routeDriver.forget(dev);
  }

  /** Reads Margay's table and routes from the kernel. */
  readKernelState(): Promise<KernelState> {
    return this.serialise(async () => ({ nft: await this.nftDriver.read(), routes: await this.routeDriver.read() }));
  }

  /**
   * Writes sysctls (paths relative to /proc/sys): directly in this process's own namespace, with
   * shell builtins from a resident shell in another (a sysctl of a namespace is only reachable
   * from inside it), or with `tee` through a custom runner.
   */
  async writeSysctls(pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
    if (this.shells === undefined) {
      for (const [path, value] of pairs) await writeSysctl(this.runner, path, value);
    } else {
      await this.shells.writeSysctls(pairs);
    }
  }

  /**
   * Starts the resident processes a first apply uses (the shells, `ip -batch`, the netlink helper)
   * now, before the datastore's snapshot arrives: forked then, they cost this process less (a
   * smaller heap's page tables to copy) and start on the other core while etcd answers, not in the
   * middle of a cold start's render. Touches nothing in the kernel. `nft -i` is not among them:
   * a cold start loads by netlink.
   */
  warm(): void {
    this.shells?.warm();
    this.ipSession?.warm();
    this.netlink?.warm();
  }

  /** Stops the resident shells, `nft -i` and `ip -batch` (the kernel keeps what was programmed). */
  close(): void {
    this.linkMonitor?.stop();
    this.shells?.close();
    this.session?.close();
    this.ipSession?.close();
    this.netlink?.close();
  }

  /** A copy of the counters. */
  stats(): DataplaneStats {
    return { ...this.counters };
  }

  /** The whole desired table as an nft script (what a fresh host would get). */
  renderRuleset(): string {
    return renderTable(this.nftManager.desired, this.nftDriver.table);
  }

  /** The text of the last nft transaction attempted. */
  get lastTransaction(): string {
    return this.nftDriver.lastTransaction;
  }

  private serialise<T>(fn: () => Promise<T>): Promise<T> {
    const next = this.queue.then(fn, fn);
    this.queue = next.catch(() => undefined);
    return next;
  }

  private async run(updates: readonly DataplaneUpdate[], full: boolean): Promise<ApplyResult> {
    const started = performance.now();
    this.counters.applies++;
    for (const u of updates) {
      if (u.type === 'in-sync') {
        this.inSync = true;
        this.counters.inSync = true;
        continue;
      }
      if (u.type === 'settings') this.settings = u.settings;
      for (const m of this.managers) m.onUpdate(u);
    }
    const result = this.emptyResult();
    if (!this.inSync && !this.writeBeforeInSync) {
      result.deferred = true;
      return this.finish(result, started);
    }
    // Interfaces are watched once the kernel may be written: the first listing configures them all.
    this.linkMonitor?.start();
    const endpoints = this.nftManager.pendingWorkloads();
    const ahead = this.wantsLoadAhead();
    // nft lists the table while the managers render: handed to a shell before they start.
    if (this.nftDriver.prefetch({ full, probeFirst: ahead })) await nextTurn();
    if (ahead) {
      this.nftManager.completeSetsAndPolicies();
      await this.nftDriver.loadAhead(this.nftManager.desired);
    }
    if (ahead) this.streamListsAhead();
    try {
      for (const m of this.managers) m.completeDeferredWork();
    } finally {
      this.nftManager.onListRendered = undefined;
    }
    // Whatever else can go follows a load ahead that goes by netlink, and its stream ends.
    if (ahead) this.nftDriver.continueAhead(this.nftManager.desired, { end: true });
    const dirty = this.nftManager.desired.takeDirty();
    // nftables, routes and VXLAN are independent: program them at once.
    const [nft, routes, vxlan] = await Promise.all([
      this.nftDriver.apply(this.nftManager.desired, dirty, { full }),
      this.applyRoutes(full),
      this.vxlanManager?.apply({ full }),
    ]);
    result.nft = nft;
    if (routes) result.routes = routes;
    if (vxlan) {
      result.vxlan = { changes: vxlan.changes, errors: vxlan.errors };
      if (vxlan.errors.length > 0) result.ok = false;
    }
    this.countNft(result);
    if (result.nft.error) {
      for (const key of endpoints) this.unprogrammed.add(key);
      result.failedEndpoints = [...this.unprogrammed];
    } else {
      result.programmedEndpoints = [...new Set([...this.unprogrammed, ...endpoints])];
      this.unprogrammed.clear();
    }
    if (result.routes.errors.length > 0) {
      this.counters.routeErrors += result.routes.errors.length;
      // A route to a workload interface that does not exist yet (the CNI is still plumbing it,
      // or the endpoint lives elsewhere) is pending, as in Felix: retried on the next apply,
      // not a failure of this one.
      if (result.routes.errors.some((e) => !isMissingDevice(e.message))) result.ok = false;
    }
    return this.finish(result, started);
  }

  /**
   * While the endpoints render, hands the policy-list chains to a load ahead that goes by netlink
   * every {@link LISTS_PER_PART} lists, so that the kernel loads them meanwhile.
   */
  private streamListsAhead(): void {
    let part: string[] = [];
    let lists = 0;
    this.nftManager.onListRendered = (chains) => {
      part.push(...chains);
      if (++lists % LISTS_PER_PART !== 0) return;
      const names = { chains: part, sets: [] };
      part = [];
      if (!this.nftDriver.continueAhead(this.nftManager.desired, { names })) this.nftManager.onListRendered = undefined;
    };
  }

  /**
   * A first apply rendering many policies: the driver probes for the table, and when there is
   * none loads the IP sets and policy chains ahead while the rest is rendered (nftables/load-ahead.ts).
   */
  private wantsLoadAhead(): boolean {
    const min = this.loadAheadMinPolicies;
    return min !== false && !this.nftDriver.hasView && this.nftManager.pendingPolicies >= min;
  }

  /** Applies the route changes (undefined when there is nothing to do); never throws. */
  private async applyRoutes(full: boolean): Promise<RouteApplyOutcome | undefined> {
    const changes = this.routeManager.takeChanges();
    if (changes === undefined && !full && !this.routeRetry) return undefined;
    try {
      // Only the changed destinations are compared (the driver compares all after an error).
      const changed = changes === 'all' ? undefined : (changes ?? new Set<string>());
      const outcome = await this.routeDriver.apply(this.routeManager.desired, { full, ...(changed ? { changed } : {}) });
      this.routeRetry = outcome.errors.length > 0;
      return outcome;
    } catch (err) {
      this.routeDriver.invalidate();
      this.routeRetry = true;
      return { added: 0, replaced: 0, removed: 0, errors: [{ dst: '*', op: 'add', message: (err as Error).message }], fullSync: full };
    }
  }

  private emptyResult(): ApplyResult {
    return {
      ok: true,
      deferred: false,
      nft: { commands: 0, applied: false, fullSync: false, retried: false, rebuild: false },
      routes: { added: 0, replaced: 0, removed: 0, errors: [], fullSync: false },
      programmedEndpoints: [],
      failedEndpoints: [],
      durationMs: 0,
    };
  }

  /** The counters of one nft outcome; a failed transaction makes the result not ok. */
  private countNft(result: ApplyResult): void {
    if (result.nft.fullSync) this.counters.fullSyncs++;
    if (result.nft.error) {
      result.ok = false;
      this.counters.transactionErrors++;
    } else if (result.nft.applied) {
      this.counters.transactions++;
      this.counters.nftCommands += result.nft.commands;
      if (result.nft.via === 'netlink') this.counters.netlinkTransactions++;
    }
  }

  private finish(result: ApplyResult, started: number): ApplyResult {
    result.durationMs = performance.now() - started;
    this.counters.lastApplyDurationMs = result.durationMs;
    this.counters.lastApplyAt = Date.now();
    return result;
  }
}

export { NftablesManager } from './nftables/manager.ts';
export type { NftablesManagerOptions } from './nftables/manager.ts';
export { NftablesDriver } from './nftables/driver.ts';
export type { NftablesDriverOptions, NftApplyOutcome, NftElementWriter } from './nftables/driver.ts';
export { NFNL_MSG_BATCH_BEGIN, NLMSG_DONE, nftTypeOf, readNetlinkMessages } from './nftables/netlink-read.ts';
export type { NetlinkMessageRead } from './nftables/netlink-read.ts';
export { NftMsg } from './nftables/netlink-attr.ts';
export { parseNftListing } from './nftables/kernel.ts';
export type { KernelTable, KernelChain, KernelRule, KernelSet, KernelMap } from './nftables/kernel.ts';
export { computeTransaction, renderTable } from './nftables/diff.ts';
export type { NftTransaction, DiffScope, TableRef } from './nftables/diff.ts';
export { DEFAULT_MARKS, DEFAULT_SETTINGS } from './nftables/settings.ts';
export type { MarkBits } from './nftables/settings.ts';
export { MARGAY_ROUTE_PROTOCOL, RouteDriver, RouteManager } from './routes/routes.ts';
export { MARGAY_VXLAN_ROUTE_PROTOCOL } from './vxlan/driver.ts';
export type { Manager } from './manager.ts';
export type { KernelRoute, RouteError, RouteApplyOutcome, RouteDriverOptions } from './routes/routes.ts';
export {
  configureHostForwarding,
  configureWorkloadInterface,
  prepareHostVeth,
  readSysctl,
  writeSysctl,
  workloadInterfaceSysctls,
  hostSysctls,
  WORKLOAD_GATEWAY_V4,
  WORKLOAD_HOST_LINK_LOCAL_V6,
  WORKLOAD_HOST_MAC,
} from './links/links.ts';

/** The nftables driver's netlink writer through the helper: batches, and a load ahead's batch file. */
function helperWriter(netlink: NetlinkHelper): NftElementWriter {
  return { applyBatch: (batch) => netlink.applyNftBatch(batch), streamBatches: (path) => netlink.streamNftBatches(path) };
}

/**
 * `ip route` failing because the route's interface does not exist (yet), or is not up yet (a new
 * tap, a veth the CNI has not set up yet: IPv4 says "Device for nexthop is not up", IPv6
 * "Nexthop device is not up").
 */
function isMissingDevice(message: string): boolean {
  return /Cannot find device|No such device|Network is down|Device for nexthop is not up|Nexthop device is not up/i.test(message);
}

// Re-exported for the other folders of src/ (they enter this folder only through this file).
export { IpSession } from './routes/ip-session.ts';
