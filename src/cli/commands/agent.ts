/**
 * `margay agent`: the per-host agent, in the foreground, until SIGTERM or SIGINT (a clean stop:
 * the kernel keeps what was programmed). Exit status 0 after a signal, 1 after a fatal error.
 *
 * The datastore is configured like every other command (`-c`, ETCD_ENDPOINTS, …). The agent's
 * own parameters come from defaults, FelixConfiguration `default` and `node.<hostname>`,
 * `--config-file`, then MARGAY_* / FELIX_* variables (see docs/agent.md).
 */
import { hostname as osHostname } from 'node:os';
import type { Command } from 'commander';
import { loadLocalConfig } from '../../agent/mod.ts';
import { NodeProcess } from '../../agent/mod.ts';
import { componentLogger } from '../../log/mod.ts';
import { defaultPoolsFromEnv, registrationFromEnv } from '../../bgp/mod.ts';
import { DEFAULT_CNI_SOCKET } from '../../cni/mod.ts';
import type { CliContext } from '../context.ts';
import { MargayError } from '../../errors/mod.ts';

interface AgentFlags {
  hostname?: string;
  configFile?: string;
  netns?: string;
  stateDir?: string;
  cniSocket?: string;
  bgp?: boolean;
  dhcp?: boolean;
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
    .option('--dhcp', "serve DHCP to this host's OpenStack VMs with dnsmasq (also $MARGAY_DHCP=true; docs/dhcp.md)")
    .action(async (flags: AgentFlags) => {
      const flagValues: { hostname?: string; netns?: string; stateDir?: string } = {};
      if (flags.hostname !== undefined) flagValues.hostname = flags.hostname;
      if (flags.netns !== undefined) flagValues.netns = flags.netns;
      if (flags.stateDir !== undefined) flagValues.stateDir = flags.stateDir;
      const runBgp = flags.bgp || process.env.MARGAY_BGP === 'true' || process.env.CALICO_NETWORKING_BACKEND === 'bird';
      // calico/node's IP/IP6/AS/CALICO_IPV*POOL_* variables; refused here, before anything starts.
      const bgpEnv = { registration: registrationFromEnv(process.env), defaultPools: defaultPoolsFromEnv(process.env) };
      const cniSocket = flags.cniSocket ?? process.env.MARGAY_CNI_SOCKET;
      const local = loadLocalConfig({ ...(flags.configFile !== undefined ? { configFile: flags.configFile } : {}), flags: flagValues });
      const store = await ctx.store();
      const node = new NodeProcess({
        datastore: store.datastore,
        local,
        defaultHostname: osHostname(),
        bgp: runBgp ? bgpEnv : false,
        ...(cniSocket ? { cniSocket } : {}),
        dhcp: flags.dhcp === true || process.env.MARGAY_DHCP === 'true',
      });
      await runUntilSignalled(node);
    });
}

/**
 * Runs the node until SIGTERM or SIGINT (a clean stop: BIRD is left running for the next agent,
 * and graceful restart covers the gap) or a fatal error (thrown after stopping).
 */
async function runUntilSignalled(node: NodeProcess): Promise<void> {
  const log = componentLogger(node.agent.logger, 'agent');
  // The agent's timers are unref'd; keep the process alive until it stops, even with the
  // health and metrics servers disabled.
  const keepAlive = setInterval(() => {}, 1 << 30);
  let onSignal: ((signal: NodeJS.Signals) => void) | undefined;
  const signalled = new Promise<NodeJS.Signals>((resolve) => {
    onSignal = (signal) => resolve(signal);
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  try {
    await node.start();
    const outcome = await Promise.race([
      signalled.then((signal) => ({ signal })),
      node.done.then(
        () => ({ signal: undefined }),
        (err: unknown) => ({ error: err as Error }),
      ),
    ]);
    if ('signal' in outcome && outcome.signal) log.info({ signal: outcome.signal }, 'signal received; shutting down');
    await node.stop({ bird: 'leave' });
    if ('error' in outcome) throw agentStopped(outcome.error);
  } finally {
    await node.stop();
    clearInterval(keepAlive);
    process.removeListener('SIGTERM', onSignal!);
    process.removeListener('SIGINT', onSignal!);
  }
}

/** The agent's fatal error as the command reports it: with the code of its cause when it has one. */
function agentStopped(err: Error): Error {
  let cause: unknown = err;
  while (cause instanceof Error && !(cause instanceof MargayError)) cause = cause.cause;
  const message = `the agent stopped: ${err.message}`;
  return cause instanceof MargayError ? new MargayError(cause.code, message, { cause: err }) : new Error(message, { cause: err });
}
