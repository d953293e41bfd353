/**
 * `margay agent`: the per-host agent, in the foreground, until SIGTERM or SIGINT (a clean stop:
 * the kernel keeps what was programmed). Exit status 0 after a signal, 1 after a fatal error.
 *
 * The datastore is configured like every other command (`-c`, ETCD_ENDPOINTS, …). The agent's
 * own parameters come from defaults, FelixConfiguration `default` and `node.<hostname>`,
 * `--config-file`, then MARGAY_* / FELIX_* variables (see docs/agent.md).
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { hostname as osHostname } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { Agent, type AgentDataplane } from '../../agent/agent.ts';
import { loadLocalConfig } from '../../agent/config.ts';
import { firstInterfacePrefix } from '../../api/felix-params.ts';
import { componentLogger } from '../../agent/log.ts';
import { Dataplane, hostSysctls } from '../../dataplane/mod.ts';
import { findNetlinkHelper, NETLINK_HELPER } from '../../dataplane/netlink-helper.ts';
import { MargayError } from '../../errors/mod.ts';
import { type CniServer, DEFAULT_CNI_SOCKET, startCniService } from '../../cni/mod.ts';
import { ResourceStore } from '../../datastore/resources.ts';
import { BgpController } from '../../bgp/mod.ts';
import { defaultPoolsFromEnv, registrationFromEnv } from '../../bgp/env.ts';
import { Ipam } from '../../ipam/mod.ts';
import type { CliContext } from '../context.ts';

interface AgentFlags {
  hostname?: string;
  configFile?: string;
  netns?: string;
  stateDir?: string;
  cniSocket?: string;
  bgp?: boolean;
}

/** Registers `agent`. */
export function registerAgent(program: Command, ctx: CliContext): void {
  program
    .command('agent')
    .description('Run the per-host agent in the foreground: datastore → calculation graph → kernel (stop with SIGTERM or SIGINT)')
    .option('--hostname <name>', 'this host\'s name (default: $MARGAY_HOSTNAME, $FELIX_FELIXHOSTNAME, $NODENAME, then the machine\'s name)')
    .option('--config-file <file>', 'agent configuration file, Felix\'s INI-like "Name = value" lines (default: $MARGAY_CONFIG_FILE)')
    .option('--netns <name>', 'program this named network namespace instead of the agent\'s own (lab hosts and tests)')
    .option('--state-dir <dir>', 'state directory (default /var/lib/margay)')
    .option('--bgp', 'run BIRD for this host: register the Node, render and reload its BGP configuration (also $MARGAY_BGP=true or $CALICO_NETWORKING_BACKEND=bird)')
    .option('--cni-socket <path>', `serve the CNI plugin on this unix socket (default: $MARGAY_CNI_SOCKET; e.g. ${DEFAULT_CNI_SOCKET}); without it the agent serves no CNI`)
    .action(async (flags: AgentFlags) => {
      const flagValues: { hostname?: string; netns?: string; stateDir?: string } = {};
      if (flags.hostname !== undefined) flagValues.hostname = flags.hostname;
      if (flags.netns !== undefined) flagValues.netns = flags.netns;
      if (flags.stateDir !== undefined) flagValues.stateDir = flags.stateDir;
      // calico/node's IP/IP6/AS/CALICO_IPV*POOL_* variables; refused here, before anything starts.
      const bgpEnv = { registration: registrationFromEnv(process.env), defaultPools: defaultPoolsFromEnv(process.env) };
      const cniSocket = flags.cniSocket ?? process.env.MARGAY_CNI_SOCKET;
      if (cniSocket && findNetlinkHelper() === undefined) {
        throw new MargayError(
          'MARGAY_ERR_CONFIG',
          `--cni-socket: the agent's ${NETLINK_HELPER} helper is not built; run scripts/install-deps.sh (it builds dist/cni/${NETLINK_HELPER}) or set MARGAY_NETLINK_HELPER`,
        );
      }
      const runBgp = flags.bgp || process.env.MARGAY_BGP === 'true' || process.env.CALICO_NETWORKING_BACKEND === 'bird';
      const local = loadLocalConfig({ ...(flags.configFile !== undefined ? { configFile: flags.configFile } : {}), flags: flagValues });
      const store = await ctx.store();
      let dataplane: Dataplane | undefined;
      const agent = new Agent({
        datastore: store.datastore,
        local,
        defaultHostname: osHostname(),
        dataplane: (config, logger): AgentDataplane => {
          if (config.netns !== '' && !existsSync(`/var/run/netns/${config.netns}`)) {
            throw new MargayError('MARGAY_ERR_CONFIG', `--netns ${config.netns}: no such network namespace (see \`ip netns list\`)`);
          }
          // VXLAN for pools with vxlanMode Always/CrossSubnet (nothing is created without one).
          const dp = new Dataplane({ ...(config.netns !== '' ? { netns: config.netns } : {}), vxlan: runBgp, warn: (m) => logger.warn(m) });
          dataplane = dp;
          return {
            prepare: () => dp.writeSysctls(hostSysctls({ ipv6: config.ipv6Support })),
            apply: (updates) => dp.apply(updates),
            resync: () => dp.resync(),
            close: async () => dp.close(),
          };
        },
      });
      const log = componentLogger(agent.logger, 'agent');
      prepareStateDir(agent.config.stateDir, agent.config.felixHostname, (m) => log.warn(m));

      // The agent's timers are unref'd; keep the process alive until it stops, even with the
      // health and metrics servers disabled.
      const keepAlive = setInterval(() => {}, 1 << 30);
      let cni: CniServer | undefined;
      let bgp: BgpController | undefined;
      let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
      const signalled = new Promise<NodeJS.Signals>((resolve) => {
        onSignal = (signal) => resolve(signal);
        process.on('SIGTERM', onSignal);
        process.on('SIGINT', onSignal);
      });
      try {
        await agent.start();
        cni = await startCni(agent, dataplane, store, cniSocket);
        if (runBgp) {
          bgp = new BgpController({
            datastore: store.datastore,
            hostname: agent.config.felixHostname,
            stateDir: agent.config.stateDir,
            ...(agent.config.netns !== '' ? { netns: agent.config.netns } : {}),
            logger: componentLogger(agent.logger, 'bgp'),
            ...bgpEnv,
            // The tunnel addresses VXLAN needs (the dataplane programs it).
            tunnelAddresses: true,
          });
          await bgp.start();
        }
        const outcome = await Promise.race([
          signalled.then((signal) => ({ signal })),
          agent.done.then(
            () => ({ signal: undefined }),
            (err: unknown) => ({ error: err as Error }),
          ),
        ]);
        if ('signal' in outcome && outcome.signal) log.info({ signal: outcome.signal }, 'signal received; shutting down');
        await cni?.close().catch(() => undefined);
        // BIRD is left running on a clean stop so routes stay (graceful restart covers the gap).
        await bgp?.stop({ bird: 'leave' }).catch(() => undefined);
        await agent.stop().catch(() => undefined);
        if ('error' in outcome) throw new Error(`the agent stopped: ${outcome.error.message}`);
      } catch (err) {
        await cni?.close().catch(() => undefined);
        await bgp?.stop().catch(() => undefined);
        await agent.stop().catch(() => undefined);
        throw err;
      } finally {
        clearInterval(keepAlive);
        process.removeListener('SIGTERM', onSignal!);
        process.removeListener('SIGINT', onSignal!);
      }
    });
}

/**
 * The agent's local CNI endpoint (docs/cni.md): ADD answers only once the agent has programmed
 * the new endpoint's policy, so a pod's first packet already meets it.
 */
async function startCni(agent: Agent, dataplane: Dataplane | undefined, store: ResourceStore, socketPath: string | undefined): Promise<CniServer | undefined> {
  if (!socketPath) return undefined;
  const config = agent.config;
  return startCniService({
    socketPath,
    store,
    ipam: new Ipam(store.datastore),
    hostname: config.felixHostname,
    ...(config.netns !== '' ? { hostNetns: config.netns } : {}),
    interfacePrefix: firstInterfacePrefix(config.interfacePrefix),
    programAhead: (endpoint) => agent.programAhead(endpoint),
    waitForEndpointProgrammed: (ep, timeoutMs) => agent.waitForEndpointProgrammed(`${ep.namespace}/${ep.name}`, ep.revision, timeoutMs),
    // The CNI adds a new pod's routes itself; the dataplane's own add of them then needs no re-read.
    onRoutesAdded: (routes) => dataplane?.learnWorkloadRoutes(routes),
    agentStatus: () => (agent.inSync ? { ready: true } : { ready: false, reason: 'the agent is not in sync with the datastore yet' }),
    logger: componentLogger(agent.logger, 'cni'),
  });
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
