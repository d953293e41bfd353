/**
 * The BGP room's one entry for the agent: a self-contained controller that
 *
 *  1. registers this host's Node (BGP address found by autodetection inside the host's network
 *     namespace, AS number) and creates the default IP pools when there are none;
 *  2. follows the BGP-relevant resources (BGPConfiguration, BGPPeer, BGPFilter, Node, IPPool) and
 *     every IPAM block, with its own syncers or from events the agent forwards;
 *  3. on every change (debounced) renders `bird.conf`, checks it with `bird -p`, and starts BIRD or
 *     reloads it with `birdc configure`; a configuration BIRD refuses never replaces the last good
 *     one;
 *  4. optionally keeps this host's VXLAN tunnel addresses (tunnel-address.ts) for pools with
 *     vxlanMode Always/CrossSubnet (the agent's dataplane programs VXLAN from them).
 *
 * ```ts
 * const bgp = new BgpController({ datastore, hostname: 'node-1', stateDir: '/var/lib/margay' });
 * await bgp.start();        // registration done, syncers running
 * await bgp.ready;          // first configuration applied, BIRD running
 * ...
 * await bgp.stop();         // BIRD leaves with graceful restart: peers keep its routes meanwhile
 * ```
 *
 * BIRD's files live in `<stateDir>/bird/` (bird.conf, bird.ctl, bird.pid, bird.log).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Datastore } from '../datastore/datastore.ts';
import { ResourceStore } from '../datastore/resources.ts';
import { Syncer, type SyncerEvent } from '../datastore/syncer.ts';
import { type CommandRunner, createRunner } from '../dataplane/exec.ts';
import { type AutodetectSources, ipCommandSources } from './autodetect.ts';
import { renderBirdConfig } from './bird-config.ts';
import { BirdConfigError, BirdController, type BirdControllerOptions, type BirdEvent } from './bird-process.ts';
import { type DefaultPoolOptions, ensureDefaultPools, type NodeRegistration, type NodeRegistrationOptions, registerNode } from './node-registration.ts';
import { type NodeStatus, readNodeStatus } from './node-status.ts';
import { ensureVxlanTunnelAddress } from './tunnel-address.ts';
import type { BirdConfigResult, BirdRenderOptions, SecretLookup } from './types.ts';
import { BGP_WATCH_PREFIXES, BgpView } from './view.ts';

/** The logger the controller writes to (pino's `Logger` fits). */
export interface BgpLogger {
  debug(obj: object, msg?: string): void;
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
}

const silent: BgpLogger = { debug() {}, info() {}, warn() {}, error() {} };

/** Options of {@link BgpController}. */
export interface BgpControllerOptions {
  /** The datastore (etcd or in-memory). */
  datastore: Datastore;
  /** This host's Node name. */
  hostname: string;
  /** The agent's state directory; BIRD's files go to `<stateDir>/bird/`. */
  stateDir: string;
  /** The host's network namespace (a lab host); BIRD and autodetection run inside it. */
  netns?: string;
  logger?: BgpLogger;
  /**
   * How the Node is registered at start (calico/node's IP, IP6, IP_AUTODETECTION_METHOD, AS).
   * Default `{}`: keep the Node's addresses, autodetect IPv4 (first-found) when it has none.
   * `false`: never write the Node (something else registers it).
   */
  registration?: Omit<NodeRegistrationOptions, 'nodeName'> | false;
  /** Default IP pools created when none exist (default `{}`: Calico's 192.168.0.0/16); `false`: none. */
  defaultPools?: DefaultPoolOptions | false;
  /** Resolves BGP password secrets (see {@link secretsFromDirectory}); without it, peers needing one are left out. */
  secrets?: SecretLookup;
  /** Renderer options (log target, router id, timers, BFD defaults…). */
  render?: BirdRenderOptions;
  /** Wait this long after a change before rendering, so a burst becomes one reload (default 100 ms). */
  debounceMs?: number;
  /**
   * `own` (default): the controller runs its own syncers on the prefixes it needs.
   * `external`: the caller forwards datastore changes with {@link BgpController.onUpdate} and
   * says when its snapshot is complete with {@link BgpController.onInSync} (the agent's syncers).
   */
  feed?: 'own' | 'external';
  /** BIRD process options (binary, back-off, start timeout). */
  bird?: Pick<BirdControllerOptions, 'birdBinary' | 'backoff' | 'startTimeoutMs'>;
  /**
   * Keep this host's VXLAN tunnel addresses (and MACs) on its Node for pools with vxlanMode
   * Always/CrossSubnet, allocated from IPAM (default false).
   */
  tunnelAddresses?: boolean;
  /** Where autodetection reads interfaces and routes (default: `ip -j` in `netns`). */
  autodetectSources?: AutodetectSources;
  /** Runs commands (autodetection); default real commands in `netns`. */
  runner?: CommandRunner;
  /**
   * Re-render and re-check the kernel this often even without changes (ms, default 60000; 0: never):
   * picks up secrets that appeared, and checks the tunnel addresses again.
   */
  resyncIntervalMs?: number;
  /** Called after each render that changed BIRD's configuration (for metrics and tests). */
  onApplied?: (info: AppliedInfo) => void;
}

/** What one render-and-apply did. */
export interface AppliedInfo {
  outcome: 'started' | 'reconfigured' | 'unchanged';
  /** Milliseconds from the first change of the burst to BIRD having the configuration. */
  latencyMs: number;
  result: BirdConfigResult;
}

/** The controller's state, for health and `margay node status`. */
export interface BgpControllerState {
  /** Both the resources and the IPAM blocks have been read completely. */
  inSync: boolean;
  birdRunning: boolean;
  birdPid?: number;
  /** The last render-and-apply failed (BIRD refused the configuration, or could not start). */
  lastError?: string;
  /** Warnings of the last render (peers left out, unknown filters…). */
  warnings: string[];
  /** How many configurations BIRD accepted since start. */
  applied: number;
}

/** Reads BGP passwords from a directory laid out like a mounted Kubernetes secret: `<dir>/<name>/<key>`. */
export function secretsFromDirectory(dir: string, read: (path: string) => string | undefined = readTextFile): SecretLookup {
  return (ref) => {
    const name = ref.name ?? '';
    if (!/^[A-Za-z0-9._-]*$/.test(name) || !/^[A-Za-z0-9._-]+$/.test(ref.key) || name.startsWith('..') || ref.key.startsWith('..')) return undefined;
    const text = read(join(dir, name, ref.key));
    return text === undefined ? undefined : text.replace(/\r?\n$/, '');
  };
}

function readTextFile(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}

/** Runs BGP (and optionally VXLAN) for one host. See the module comment. */
export class BgpController {
  /** The datastore view the configuration is rendered from. */
  readonly view = new BgpView();
  /** The BIRD supervisor. */
  readonly bird: BirdController;
  readonly #options: BgpControllerOptions;
  readonly #log: BgpLogger;
  readonly #store: ResourceStore;
  readonly #runner: CommandRunner;
  readonly #debounceMs: number;
  readonly #syncers: Syncer[] = [];
  readonly #syncerInSync = new Set<number>();
  #inSync = false;
  #started = false;
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  #retryTimer: ReturnType<typeof setTimeout> | undefined;
  #retryMs = 1000;
  #running: Promise<void> | undefined;
  #again = false;
  #firstChangeAt: number | undefined;
  #registration: NodeRegistration | undefined;
  #lastResult: BirdConfigResult | undefined;
  #lastError: string | undefined;
  #applied = 0;
  #tunnelAddressPools = '';
  #resyncTimer: ReturnType<typeof setInterval> | undefined;
  #resolveReady!: () => void;
  #rejectReady!: (err: unknown) => void;

  /** Settles once the first configuration has been applied (BIRD running); rejects if start fails. */
  readonly ready: Promise<void>;

  constructor(options: BgpControllerOptions) {
    this.#options = options;
    this.#log = options.logger ?? silent;
    this.#store = new ResourceStore(options.datastore);
    this.#runner = options.runner ?? createRunner(options.netns !== undefined ? { netns: options.netns } : {});
    this.#debounceMs = options.debounceMs ?? 100;
    this.ready = new Promise((resolve, reject) => {
      this.#resolveReady = resolve;
      this.#rejectReady = reject;
    });
    this.ready.catch(() => {});
    this.bird = new BirdController({
      stateDir: join(options.stateDir, 'bird'),
      ...(options.netns !== undefined ? { netns: options.netns } : {}),
      ...(options.bird ?? {}),
      // `bird -p` needs no namespace: run it directly.
      runner: createRunner(),
      onEvent: (e) => this.#onBirdEvent(e),
    });
  }

  /** What registration did at start (undefined before, or with `registration: false`). */
  get registration(): NodeRegistration | undefined {
    return this.#registration;
  }

  /** The last rendered configuration. */
  get lastResult(): BirdConfigResult | undefined {
    return this.#lastResult;
  }

  /** Health and progress. */
  get state(): BgpControllerState {
    const pid = this.bird.pid;
    return {
      inSync: this.#inSync,
      birdRunning: pid !== undefined,
      ...(pid !== undefined ? { birdPid: pid } : {}),
      ...(this.#lastError !== undefined ? { lastError: this.#lastError } : {}),
      warnings: this.#lastResult?.warnings ?? [],
      applied: this.#applied,
    };
  }

  /**
   * Registers the Node, creates the default pools, and starts following the datastore. Resolves
   * when that is done; {@link ready} settles when BIRD runs the first configuration.
   */
  async start(): Promise<void> {
    if (this.#started) return;
    this.#started = true;
    try {
      const { hostname } = this.#options;
      if (this.#options.registration !== false) {
        const sources = this.#options.autodetectSources ?? ipCommandSources(this.#runner);
        this.#registration = await registerNode(this.#store, { nodeName: hostname, ...(this.#options.registration ?? {}) }, sources);
        for (const w of this.#registration.warnings) this.#log.warn({ node: hostname }, w);
        this.#log.info(
          { node: hostname, outcome: this.#registration.outcome, ...this.#registration.detected },
          'node registered',
        );
      }
      if (this.#options.defaultPools !== false) {
        const created = await ensureDefaultPools(this.#store, this.#options.defaultPools ?? {});
        for (const p of created) this.#log.info({ pool: p.metadata.name, cidr: (p.spec ?? {}).cidr }, 'created the default IP pool');
      }
    } catch (err) {
      this.#rejectReady(err);
      throw err;
    }
    if ((this.#options.feed ?? 'own') === 'own') {
      BGP_WATCH_PREFIXES.forEach((prefix, i) => {
        const syncer = new Syncer(this.#options.datastore, prefix, (events) => this.#onSyncerEvents(i, events), {
          onError: (err) => this.#log.debug({ prefix, err: err.message }, 'datastore error'),
        });
        this.#syncers.push(syncer);
        syncer.start();
        syncer.done.catch((err: unknown) => this.#log.error({ prefix, err: String(err) }, 'syncer stopped'));
      });
    }
    const every = this.#options.resyncIntervalMs ?? 60_000;
    if (every > 0) {
      this.#resyncTimer = setInterval(() => {
        this.#tunnelAddressPools = '';
        this.#changed();
      }, every);
      this.#resyncTimer.unref();
    }
  }

  #onSyncerEvents(index: number, events: SyncerEvent[]): void {
    for (const ev of events) {
      if (ev.type === 'update') this.onUpdate(ev.kv.key, ev.kv.value);
      else if (ev.type === 'delete') this.onUpdate(ev.key, undefined);
      else if (ev.type === 'in-sync') {
        this.#syncerInSync.add(index);
        if (this.#syncerInSync.size === BGP_WATCH_PREFIXES.length) this.onInSync();
      }
    }
  }

  /**
   * One datastore change (`value`: the stored JSON text or parsed value; undefined when deleted).
   * Keys the BGP room does not follow are ignored, so the agent may forward everything.
   */
  onUpdate(key: string, value: unknown): void {
    if (this.view.onUpdate(key, value)) this.#changed();
  }

  /** The forwarded snapshot is complete: from now on configurations are rendered and applied. */
  onInSync(): void {
    if (this.#inSync) return;
    this.#inSync = true;
    this.#log.info({ node: this.#options.hostname }, 'datastore snapshot complete; starting BIRD');
    this.#changed(true);
  }

  #changed(now = false): void {
    this.#firstChangeAt ??= Date.now();
    if (!this.#inSync || this.#stopped) return;
    if (this.#running) {
      this.#again = true;
      return;
    }
    if (this.#timer !== undefined && !now) return;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => {
      this.#timer = undefined;
      void this.#runOnce();
    }, now ? 0 : this.#debounceMs);
  }

  /** Renders and applies now (skipping the debounce); resolves when done. */
  async flush(): Promise<void> {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    while (this.#running) await this.#running;
    if (!this.#inSync || this.#stopped) return;
    await this.#runOnce();
  }

  #runOnce(): Promise<void> {
    if (this.#running) {
      this.#again = true;
      return this.#running;
    }
    this.#running = (async () => {
      try {
        do {
          this.#again = false;
          await this.#renderAndApply();
        } while (this.#again && !this.#stopped);
      } finally {
        this.#running = undefined;
      }
    })();
    return this.#running;
  }

  async #renderAndApply(): Promise<void> {
    const since = this.#firstChangeAt ?? Date.now();
    this.#firstChangeAt = undefined;
    const { hostname } = this.#options;
    clearTimeout(this.#retryTimer);
    this.#retryTimer = undefined;
    let retry = false;
    const errors: string[] = [];
    // The tunnel addresses first; their failure never holds BIRD back.
    if (this.#options.tunnelAddresses) {
      try {
        await this.#keepTunnelAddresses();
      } catch (err) {
        errors.push((err as Error).message);
        retry = true;
        this.#log.error({ node: hostname, err: (err as Error).message }, 'could not allocate the VXLAN tunnel address; retrying');
      }
    }
    try {
      const result = renderBirdConfig(
        this.view.birdInput(hostname, {
          ...(this.#options.secrets ? { secrets: this.#options.secrets } : {}),
          ...(this.#options.render ? { options: this.#options.render } : {}),
        }),
      );
      const newWarnings = result.warnings.filter((w) => !(this.#lastResult?.warnings ?? []).includes(w));
      for (const w of newWarnings) this.#log.warn({ node: hostname }, w);
      this.#lastResult = result;
      const outcome = this.bird.running ? await this.bird.apply(result.text) : await this.bird.start(result.text);
      if (outcome !== 'unchanged') {
        this.#applied++;
        this.#log.info({ node: hostname, outcome, sessions: result.peers.length, latencyMs: Date.now() - since }, `BIRD configuration ${outcome}`);
      }
      this.#resolveReady();
      this.#options.onApplied?.({ outcome, latencyMs: Date.now() - since, result });
    } catch (err) {
      errors.push((err as Error).message);
      if (err instanceof BirdConfigError) {
        // A configuration BIRD refuses stays refused until the datastore changes: no retry loop
        // while BIRD runs the last good one.
        this.#log.error({ node: hostname, err: err.birdMessage }, 'BIRD refused the rendered configuration; keeping the last good one');
        if (!this.bird.running) retry = true;
      } else {
        this.#log.error({ node: hostname, err: (err as Error).message }, 'could not apply the BGP configuration; retrying');
        retry = true;
      }
    }
    this.#lastError = errors.length > 0 ? errors.join('; ') : undefined;
    if (retry) this.#scheduleRetry();
    else if (errors.length === 0) this.#retryMs = 1000;
  }

  #scheduleRetry(): void {
    if (this.#stopped) return;
    const delay = this.#retryMs;
    this.#retryMs = Math.min(this.#retryMs * 2, 30_000);
    clearTimeout(this.#retryTimer);
    this.#retryTimer = setTimeout(() => {
      this.#retryTimer = undefined;
      void this.#runOnce();
    }, delay);
  }

  /** Allocates or releases this host's tunnel addresses when the pools changed (calico/node's allocateip). */
  async #keepTunnelAddresses(): Promise<void> {
    const { hostname } = this.#options;
    const pools = this.view.resources('ippools');
    const poolKey = JSON.stringify(pools.map((p) => [p.metadata.name, p.spec]).sort());
    if (poolKey === this.#tunnelAddressPools) return;
    const changed = await ensureVxlanTunnelAddress(this.#options.datastore, hostname, pools);
    this.#tunnelAddressPools = poolKey;
    if (changed) {
      this.#log.info({ node: hostname, ipv4: changed.ipv4, ipv6: changed.ipv6 }, 'VXLAN tunnel address updated');
      this.view.onUpdate(`/calico/resources/v3/projectcalico.org/nodes/${hostname}`, changed.node);
    }
  }

  #onBirdEvent(e: BirdEvent): void {
    const node = this.#options.hostname;
    switch (e.type) {
      case 'exited':
        if (!this.#stopped) this.#log.warn({ node, pid: e.pid, code: e.code, signal: e.signal }, 'BIRD exited');
        break;
      case 'started':
        this.#log.info({ node, pid: e.pid, recovery: e.recovery }, 'BIRD started');
        break;
      case 'adopted':
        this.#log.info({ node, pid: e.pid }, 'adopted the BIRD left running by a previous agent');
        break;
      case 'config-rejected':
        this.#log.debug({ node, err: e.message }, 'configuration rejected');
        break;
      default:
        this.#log.debug({ node, event: e.type }, 'BIRD event');
    }
  }

  /** This host's BGP and BFD status, from BIRD. */
  status(): Promise<NodeStatus> {
    return readNodeStatus(this.bird.socketPath);
  }

  /**
   * Stops following the datastore, then BIRD:
   * - `graceful` (default): BIRD leaves with `graceful restart`; peers keep its routes for the
   *   restart time and the kernel keeps them too (an agent restart or upgrade);
   * - `stop`: SIGTERM; peers drop its routes at once (the host leaves the cluster);
   * - `leave`: BIRD keeps running; the next controller on the same state directory adopts it.
   */
  async stop(options: { bird?: 'graceful' | 'stop' | 'leave' } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearTimeout(this.#retryTimer);
    clearInterval(this.#resyncTimer);
    await Promise.all(this.#syncers.map((s) => s.stop()));
    while (this.#running) await this.#running.catch(() => undefined);
    const mode = options.bird ?? 'graceful';
    if (mode === 'leave') this.bird.release();
    else await this.bird.stop({ graceful: mode === 'graceful' });
    this.#rejectReady(new Error('the BGP controller stopped before BIRD was configured'));
  }
}
