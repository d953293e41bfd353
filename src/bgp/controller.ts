/**
 * The BGP room's one entry for the node process: a controller that
 *
 *  1. registers this host's Node (BGP address found by autodetection inside the host's network
 *     namespace, AS number) and creates the default IP pools when there are none ({@link register});
 *  2. follows the BGP-relevant resources (BGPConfiguration, BGPPeer, BGPFilter, Node, IPPool) and
 *     every IPAM block from the changes it is fed ({@link onUpdate}, {@link onInSync}: the agent's
 *     syncers, so that each key arrives once per process);
 *  3. on each {@link apply} renders `bird.conf`, checks it with `bird -p`, and starts BIRD or
 *     reloads it with `birdc configure`; a configuration BIRD refuses never replaces the last good
 *     one;
 *  4. optionally keeps this host's VXLAN tunnel addresses (tunnel-address.ts) for pools with
 *     vxlanMode Always/CrossSubnet (the agent's dataplane programs VXLAN from them).
 *
 * It has no timers of its own: whoever runs it decides when to apply (src/agent/node.ts drives it
 * with the agent's scheduler: coalescing, retries with backoff, a periodic resync).
 *
 * ```ts
 * const bgp = new BgpController({ datastore, hostname: 'node-1', stateDir: '/var/lib/margay' });
 * await bgp.register();            // the Node and the default pools
 * bgp.onUpdate(key, value);        // true: apply soon
 * bgp.onInSync();
 * await bgp.apply();               // throws when it must be retried
 * await bgp.stop();                // BIRD leaves with graceful restart: peers keep its routes meanwhile
 * ```
 *
 * BIRD's files live in `<stateDir>/bird/` (bird.conf, bird.ctl, bird.pid, bird.log).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Datastore } from '../datastore/mod.ts';
import { resourceKey } from '../datastore/mod.ts';
import { ResourceStore } from '../datastore/mod.ts';
import { type Logger, silentLogger } from '../log/mod.ts';
import { type CommandRunner, createRunner } from '../os/mod.ts';
import { type AutodetectSources, ipCommandSources } from './autodetect.ts';
import { renderBirdConfig } from './bird-config.ts';
import { BirdConfigError, BirdController, type BirdControllerOptions, type BirdEvent } from './bird-process.ts';
import { type DefaultPoolOptions, ensureDefaultPools, type NodeRegistration, type NodeRegistrationOptions, registerNode } from './node-registration.ts';
import { discoveryInterfaces, readLinkNeighbors, rememberRouters, type SeenRouters } from './link-neighbors.ts';
import { type NodeStatus, readNodeStatus } from './node-status.ts';
import { ensureVxlanTunnelAddress } from './tunnel-address.ts';
import type { BirdConfigResult, BirdRenderOptions, SecretLookup } from './types.ts';
import { BgpView } from './view.ts';

/** A discovered router missing from the neighbour table is still peered with for this long (a link flap empties the table). */
const FORGET_ROUTER_MS = 60_000;

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
  logger?: Logger;
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

/** Runs BGP (and optionally keeps the VXLAN tunnel addresses) for one host. See the module comment. */
export class BgpController {
  /** The datastore view the configuration is rendered from. */
  readonly view = new BgpView();
  /** The BIRD supervisor. */
  readonly bird: BirdController;
  readonly #options: BgpControllerOptions;
  readonly #log: Logger;
  readonly #store: ResourceStore;
  readonly #runner: CommandRunner;
  #inSync = false;
  #stopped = false;
  #firstChangeAt: number | undefined;
  #registration: NodeRegistration | undefined;
  #lastResult: BirdConfigResult | undefined;
  #lastError: string | undefined;
  #applied = 0;
  #tunnelAddressPools = '';
  #linkNeighbors: Record<string, string[]> = {};
  #seenRouters: SeenRouters = {};
  /** Whether the neighbour tables were read once (the first configuration waits for it). */
  #discovered = false;
  #discovering = false;
  #resolveReady!: () => void;
  #rejectReady!: (err: unknown) => void;

  /** Settles once the first configuration has been applied (BIRD running); rejects if registration fails. */
  readonly ready: Promise<void>;

  constructor(options: BgpControllerOptions) {
    this.#options = options;
    this.#log = options.logger ?? silentLogger();
    this.#store = new ResourceStore(options.datastore);
    this.#runner = options.runner ?? createRunner(options.netns !== undefined ? { netns: options.netns } : {});
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

  /** What registration did (undefined before, or with `registration: false`). */
  get registration(): NodeRegistration | undefined {
    return this.#registration;
  }

  /** The last rendered configuration. */
  get lastResult(): BirdConfigResult | undefined {
    return this.#lastResult;
  }

  /** True once the fed snapshot is complete. */
  get inSync(): boolean {
    return this.#inSync;
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
   * Registers the Node and creates the default pools (what calico/node does at startup), before
   * the datastore is followed, so that the snapshot already holds them. {@link ready} rejects
   * when this fails.
   */
  async register(): Promise<void> {
    try {
      const { hostname } = this.#options;
      if (this.#options.registration !== false) {
        const sources = this.#options.autodetectSources ?? ipCommandSources(this.#runner);
        this.#registration = await registerNode(this.#store, { nodeName: hostname, ...(this.#options.registration ?? {}) }, sources);
        for (const w of this.#registration.warnings) this.#log.warn({ node: hostname }, w);
        this.#log.info({ node: hostname, outcome: this.#registration.outcome, ...this.#registration.detected }, 'node registered');
      }
      if (this.#options.defaultPools !== false) {
        const created = await ensureDefaultPools(this.#store, this.#options.defaultPools ?? {});
        for (const p of created) this.#log.info({ pool: p.metadata.name, cidr: (p.spec ?? {}).cidr }, 'created the default IP pool');
      }
    } catch (err) {
      this.#rejectReady(err);
      throw err;
    }
  }

  /**
   * One datastore change (`value`: the stored JSON text or parsed value; undefined when deleted).
   * Returns true when the key is one the BGP room follows (an {@link apply} is due); other keys
   * are ignored, so the agent may forward everything.
   */
  onUpdate(key: string, value: unknown): boolean {
    if (!this.view.onUpdate(key, value)) return false;
    this.#firstChangeAt ??= Date.now();
    return true;
  }

  /** The fed snapshot is complete: from now on {@link apply} renders and applies. */
  onInSync(): void {
    if (this.#inSync) return;
    this.#inSync = true;
    this.#firstChangeAt ??= Date.now();
    this.#log.info({ node: this.#options.hostname }, 'datastore snapshot complete; starting BIRD');
  }

  /** The next {@link apply} checks the tunnel addresses again even if the pools did not change (a periodic resync). */
  requestResync(): void {
    this.#tunnelAddressPools = '';
  }

  /**
   * Renders and applies once. Resolves false when there is nothing to do yet (not in sync, or
   * stopped); throws when it must be retried (BIRD could not start or be reconfigured, or the
   * tunnel addresses could not be kept). A configuration BIRD refuses while it runs the last good
   * one is not retried: it stays refused until the datastore changes.
   */
  async apply(): Promise<boolean> {
    if (!this.#inSync || this.#stopped) return false;
    const since = this.#firstChangeAt ?? Date.now();
    this.#firstChangeAt = undefined;
    const { hostname } = this.#options;
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
    // The routers found on the uplinks before the first configuration: an agent restarting next
    // to a running BIRD would otherwise replace the sessions to them by waiting ones (a reset).
    if (!this.#discovered) await this.discoverPeers().catch(() => false);
    try {
      const result = renderBirdConfig(
        this.view.birdInput(hostname, {
          ...(this.#options.secrets ? { secrets: this.#options.secrets } : {}),
          ...(this.#options.render ? { options: this.#options.render } : {}),
          linkNeighbors: this.#linkNeighbors,
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
        this.#log.error({ node: hostname, err: err.birdMessage }, 'BIRD refused the rendered configuration; keeping the last good one');
        if (!this.bird.running) retry = true;
      } else {
        this.#log.error({ node: hostname, err: (err as Error).message }, 'could not apply the BGP configuration; retrying');
        retry = true;
      }
    }
    this.#lastError = errors.length > 0 ? errors.join('; ') : undefined;
    if (retry) throw new Error(this.#lastError ?? 'BGP apply failed');
    return true;
  }

  /**
   * Looks for the routers on the uplinks of unnumbered peers with `margay.io/peer-discovery:
   * neighbors` (their link-local addresses, from the neighbour table). Returns true when what it
   * found changed, so that an {@link apply} connects to them; cheap (nothing run) without such peers.
   */
  async discoverPeers(): Promise<boolean> {
    if (!this.#inSync || this.#stopped || this.#discovering) return false;
    const ifaces = discoveryInterfaces(this.view.resources('bgppeers'), this.view.node(this.#options.hostname));
    this.#discovering = true;
    const inTable = ifaces.length === 0 ? {} : await readLinkNeighbors(this.#runner, ifaces).finally(() => (this.#discovering = false));
    this.#discovering = false;
    this.#discovered = true;
    const found = rememberRouters(this.#seenRouters, inTable, Date.now(), FORGET_ROUTER_MS);
    if (JSON.stringify(found) === JSON.stringify(this.#linkNeighbors)) return false;
    this.#log.info({ node: this.#options.hostname, routers: found }, 'link-local routers on the unnumbered uplinks changed');
    this.#linkNeighbors = found;
    this.#firstChangeAt ??= Date.now();
    return true;
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
      this.view.onUpdate(resourceKey('nodes', hostname), changed.node);
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
   * Stops applying (the caller stops feeding first, and waits for an apply under way), then BIRD:
   * - `graceful` (default): BIRD leaves with `graceful restart`; peers keep its routes for the
   *   restart time and the kernel keeps them too (an agent restart or upgrade);
   * - `stop`: SIGTERM; peers drop its routes at once (the host leaves the cluster);
   * - `leave`: BIRD keeps running; the next controller on the same state directory adopts it.
   */
  async stop(options: { bird?: 'graceful' | 'stop' | 'leave' } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    const mode = options.bird ?? 'graceful';
    if (mode === 'leave') this.bird.release();
    else await this.bird.stop({ graceful: mode === 'graceful' });
    this.#rejectReady(new Error('the BGP controller stopped before BIRD was configured'));
  }
}
