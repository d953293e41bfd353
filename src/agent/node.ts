/**
 * The node process: one host's Margay, assembled and stopped in one place (what calico/node's
 * runit runs as felix, confd and bird). `margay agent` parses its flags and runs this.
 *
 * ```
 *                      ┌────────────── Agent ─────────────────────────────────────────┐
 * etcd ─▶ datastore feed (2 syncers) ─▶ graph ─▶ flush loop ─▶ Dataplane (nft, routes, VXLAN)
 *                      │       └──────▶ BgpLoop ─▶ BgpController ─▶ BIRD                │
 *                      │  health · metrics · status                                    │
 *                      └───────────────────────────────────────────────────────────────┘
 *   CNI plugin ─▶ CNI service (unix socket) ─▶ IPAM, the WorkloadEndpoint, programAhead/wait
 * ```
 *
 * Start order: the state directory (`nodename`), the Node's registration and default pools (so
 * the first snapshot holds them), the agent (its syncers feed the graph and BGP), BGP's resync
 * timer, the CNI service. Stop order: the reverse; BIRD is left running, stopped gracefully or
 * stopped outright, as asked.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { firstInterfacePrefix, interfacePrefixes } from '../api/mod.ts';
import type { AgentConfig } from '../api/mod.ts';
import { BgpController, type BgpControllerOptions } from '../bgp/mod.ts';
import { openstackActive, type LocalConfig } from '../calc/mod.ts';
import { type CniServer, startCniService } from '../cni/mod.ts';
import type { Clock } from '../os/mod.ts';
import type { Datastore } from '../datastore/mod.ts';
import { ResourceStore } from '../datastore/mod.ts';
import { Dataplane, hostSysctls } from '../dataplane/mod.ts';
import { findNetlinkHelper, NETLINK_HELPER } from '../os/mod.ts';
import { MargayError } from '../errors/mod.ts';
import { Ipam } from '../ipam/mod.ts';
import { DhcpService } from '../dhcp/mod.ts';
import { Agent, type AgentDataplane } from './agent.ts';
import { BgpLoop } from './bgp-loop.ts';
import { componentLogger, type Logger } from '../log/mod.ts';

/** What BGP does on this host (the BgpController's options the node does not set itself). */
export type NodeBgpOptions = Omit<BgpControllerOptions, 'datastore' | 'hostname' | 'stateDir' | 'netns' | 'logger' | 'tunnelAddresses'> & {
  /** Wait this long after a change before rendering (default 100 ms). */
  debounceMs?: number;
  /** Re-render and re-check the tunnel addresses this often (default 60000 ms; 0: never). */
  resyncIntervalMs?: number;
};

/** Options of {@link NodeProcess}. */
export interface NodeProcessOptions {
  datastore: Datastore;
  /** The file, environment and flag layers of the agent's parameters. */
  local: LocalConfig;
  /** The hostname when nothing configures one (the machine's name). */
  defaultHostname?: string;
  /**
   * Run BGP: register the Node, render and reload BIRD, keep the VXLAN tunnel addresses, and
   * program VXLAN (default: off).
   */
  bgp?: NodeBgpOptions | false;
  /** Serve the CNI plugin on this unix socket (default: no CNI service). */
  cniSocket?: string;
  /**
   * Serve DHCP to this host's OpenStack VMs (dnsmasq driven from their WorkloadEndpoints and the
   * subnets Neutron's driver writes; docs/dhcp.md); default off.
   */
  dhcp?: boolean;
  /** Builds the dataplane (default: the kernel's, in the configured netns). */
  dataplane?: (config: AgentConfig, logger: Logger, options: { vxlan: boolean }) => AgentDataplane;
  logger?: Logger;
  clock?: Clock;
  wallClock?: () => number;
  /** Serve health and metrics over HTTP (default true). */
  servers?: boolean;
  syncerBackoff?: { initialMs: number; maxMs: number };
}

/** How BIRD is left by {@link NodeProcess.stop}: see {@link BgpController.stop}. */
export type BirdStopMode = 'graceful' | 'stop' | 'leave';

/** One host's process: agent, dataplane, BGP, CNI service, health and metrics. */
export class NodeProcess {
  readonly agent: Agent;
  /** BGP (undefined when off). */
  readonly bgp: BgpController | undefined;
  readonly #bgpLoop: BgpLoop | undefined;
  readonly #options: NodeProcessOptions;
  readonly #log: Logger;
  #dataplane: Dataplane | undefined;
  #cni: CniServer | undefined;
  /** The CNI service's IPAM (its read cache watches the datastore until stopped). */
  #cniIpam: Ipam | undefined;
  #dhcp: DhcpService | undefined;
  #stopped = false;

  /** Throws MARGAY_ERR_CONFIG for a bad parameter, a missing netns, or a CNI socket without its helper. */
  constructor(options: NodeProcessOptions) {
    this.#options = options;
    if (options.cniSocket && findNetlinkHelper() === undefined) {
      throw new MargayError(
        'MARGAY_ERR_CONFIG',
        `--cni-socket: the agent's ${NETLINK_HELPER} helper is not built; run scripts/install-deps.sh (it builds dist/cni/${NETLINK_HELPER}) or set MARGAY_NETLINK_HELPER`,
      );
    }
    const vxlan = options.bgp !== undefined && options.bgp !== false;
    this.agent = new Agent({
      datastore: options.datastore,
      local: options.local,
      ...(options.defaultHostname !== undefined ? { defaultHostname: options.defaultHostname } : {}),
      dataplane: (config, logger) => (options.dataplane ?? ((c, l, o) => this.#kernelDataplane(c, l, o)))(config, logger, { vxlan }),
      ...(options.logger ? { logger: options.logger } : {}),
      ...(options.clock ? { clock: options.clock } : {}),
      ...(options.wallClock ? { wallClock: options.wallClock } : {}),
      ...(options.servers !== undefined ? { servers: options.servers } : {}),
      ...(options.syncerBackoff ? { syncerBackoff: options.syncerBackoff } : {}),
    });
    this.#log = componentLogger(this.agent.logger, 'node');
    if (options.bgp) {
      const { debounceMs, resyncIntervalMs, ...bgp } = options.bgp;
      const config = this.agent.config;
      this.bgp = new BgpController({
        ...bgp,
        datastore: options.datastore,
        hostname: config.felixHostname,
        stateDir: config.stateDir,
        ...(config.netns !== '' ? { netns: config.netns } : {}),
        logger: componentLogger(this.agent.logger, 'bgp'),
        // The tunnel addresses VXLAN needs (the dataplane programs VXLAN from them).
        tunnelAddresses: true,
        render: { workloadInterfacePrefixes: interfacePrefixes(config.interfacePrefix), ...bgp.render },
      });
      this.#bgpLoop = new BgpLoop({
        bgp: this.bgp,
        clock: this.agent.clock,
        logger: componentLogger(this.agent.logger, 'bgp'),
        ...(debounceMs !== undefined ? { debounceMs } : {}),
        ...(resyncIntervalMs !== undefined ? { resyncIntervalMs } : {}),
      });
      this.agent.subscribe(this.#bgpLoop.listener);
    }
  }

  /** The kernel dataplane (undefined with a custom dataplane). */
  get dataplane(): Dataplane | undefined {
    return this.#dataplane;
  }

  /** The CNI service (when serving). */
  get cni(): CniServer | undefined {
    return this.#cni;
  }

  /** Settles when the agent stops: resolves after {@link stop}, rejects on a fatal error. */
  get done(): Promise<void> {
    return this.agent.done;
  }

  /** Registers the Node, then starts the agent, BGP and the CNI service. On failure, stops what started. */
  async start(): Promise<void> {
    const config = this.agent.config;
    prepareStateDir(config.stateDir, config.felixHostname, (m) => this.#log.warn(m));
    try {
      await this.bgp?.register();
      await this.agent.start();
      this.#bgpLoop?.start();
      this.#cni = await this.#startCni();
      if (this.#options.dhcp) this.#dhcp = this.#startDhcp();
    } catch (err) {
      await this.stop({ bird: 'graceful' });
      throw err;
    }
  }

  /**
   * Stops the CNI service, BGP and the agent; the kernel keeps what was programmed. BIRD is left
   * `leave` (running, adopted by the next agent: a clean restart), stopped `graceful`ly (the
   * default), or `stop`ped (peers drop its routes at once).
   */
  async stop(options: { bird?: BirdStopMode } = {}): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    await this.#cni?.close().catch((err: unknown) => this.#log.warn({ err: String(err) }, 'closing the CNI service failed'));
    await this.#cniIpam?.close().catch(() => undefined);
    // dnsmasq keeps serving the VMs; the next agent adopts it.
    await this.#dhcp?.stop().catch((err: unknown) => this.#log.warn({ err: String(err) }, 'stopping the DHCP service failed'));
    await this.#bgpLoop?.stop();
    await this.bgp?.stop({ bird: options.bird ?? 'graceful' }).catch((err: unknown) => this.#log.warn({ err: String(err) }, 'stopping BIRD failed'));
    await this.agent.stop().catch(() => undefined);
  }

  #kernelDataplane(config: AgentConfig, logger: Logger, options: { vxlan: boolean }): AgentDataplane {
    if (config.netns !== '' && !existsSync(`/var/run/netns/${config.netns}`)) {
      throw new MargayError('MARGAY_ERR_CONFIG', `--netns ${config.netns}: no such network namespace (see \`ip netns list\`)`);
    }
    // VXLAN for pools with vxlanMode Always/CrossSubnet (nothing is created without one).
    const dp = new Dataplane({
      ...(config.netns !== '' ? { netns: config.netns } : {}),
      vxlan: options.vxlan,
      // OpenStack's taps are made by the hypervisor, not announced by a CNI call: watch for them.
      watchLinks: openstackActive(config),
      warn: (m) => logger.warn(m),
    });
    this.#dataplane = dp;
    return {
      warm: () => dp.warm(),
      prepare: () => dp.writeSysctls(hostSysctls({ ipv6: config.ipv6Support })),
      apply: (updates) => dp.apply(updates),
      resync: () => dp.resync(),
      untidy: () => dp.untidy(),
      tidy: () => dp.tidy(),
      close: async () => dp.close(),
    };
  }

  /** The DHCP service of this host's VMs, in the agent's state directory. */
  #startDhcp(): DhcpService {
    const config = this.agent.config;
    return new DhcpService({
      datastore: this.#options.datastore,
      hostname: config.felixHostname,
      openstackRegion: config.openstackRegion,
      dir: join(config.stateDir, 'dhcp'),
      ...(config.netns !== '' ? { netns: config.netns } : {}),
      // dnsmasq answers only the MACs of this host's OpenStack endpoints, whatever the interface.
      interfaces: interfacePrefixes(config.interfacePrefix).map((p) => `${p}*`),
      logger: componentLogger(this.agent.logger, 'dhcp'),
    }).start();
  }

  /**
   * The agent's local CNI endpoint (docs/cni.md): ADD answers only once the agent has programmed
   * the new endpoint's policy, so a pod's first packet already meets it.
   */
  async #startCni(): Promise<CniServer | undefined> {
    const socketPath = this.#options.cniSocket;
    if (!socketPath) return undefined;
    const agent = this.agent;
    const config = agent.config;
    const store = new ResourceStore(this.#options.datastore);
    return startCniService({
      socketPath,
      store,
      // Long-lived: keep IPAM's reads, refreshed by watches, so an ADD's IPAM is one transaction.
      ipam: (this.#cniIpam = new Ipam(this.#options.datastore, { cacheReads: true, claimAhead: true })),
      hostname: config.felixHostname,
      ...(config.netns !== '' ? { hostNetns: config.netns } : {}),
      interfacePrefix: firstInterfacePrefix(config.interfacePrefix),
      programAhead: (endpoint) => agent.programAhead(endpoint),
      // Status writes wait while ADDs and DELs are in progress (bounded).
      foreground: () => agent.foreground.begin(),
      waitForEndpointProgrammed: (ep, timeoutMs) => agent.waitForEndpointProgrammed(`${ep.namespace}/${ep.name}`, ep.revision, timeoutMs),
      // The CNI adds a new pod's routes itself; the dataplane's route driver leaves them to it.
      onWorkloadRoutes: (routes) => this.#dataplane?.learnWorkloadRoutes(routes),
      onWorkloadRoutesGone: (dev) => this.#dataplane?.forgetWorkloadRoutes(dev),
      agentStatus: () => (agent.inSync ? { ready: true } : { ready: false, reason: 'the agent is not in sync with the datastore yet' }),
      logger: componentLogger(agent.logger, 'cni'),
    });
  }
}

/** Creates the state directory and writes `nodename` there, as calico/node does. */
function prepareStateDir(dir: string, hostname: string, warn: (m: string) => void): void {
  try {
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'nodename'), `${hostname}\n`);
  } catch (err) {
    warn(`state directory ${dir}: ${(err as Error).message}`);
  }
}
