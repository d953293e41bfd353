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
import { componentLogger } from '../../agent/log.ts';
import { configureHostForwarding, Dataplane } from '../../dataplane/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import type { CliContext } from '../context.ts';

interface AgentFlags {
  hostname?: string;
  configFile?: string;
  netns?: string;
  stateDir?: string;
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
    .action(async (flags: AgentFlags) => {
      const flagValues: { hostname?: string; netns?: string; stateDir?: string } = {};
      if (flags.hostname !== undefined) flagValues.hostname = flags.hostname;
      if (flags.netns !== undefined) flagValues.netns = flags.netns;
      if (flags.stateDir !== undefined) flagValues.stateDir = flags.stateDir;
      const local = loadLocalConfig({ ...(flags.configFile !== undefined ? { configFile: flags.configFile } : {}), flags: flagValues });
      const store = await ctx.store();
      const agent = new Agent({
        datastore: store.datastore,
        local,
        defaultHostname: osHostname(),
        dataplane: (config, logger): AgentDataplane => {
          if (config.netns !== '' && !existsSync(`/var/run/netns/${config.netns}`)) {
            throw new MargayError('MARGAY_ERR_CONFIG', `--netns ${config.netns}: no such network namespace (see \`ip netns list\`)`);
          }
          const dp = new Dataplane({ ...(config.netns !== '' ? { netns: config.netns } : {}), warn: (m) => logger.warn(m) });
          return {
            prepare: () => configureHostForwarding(dp.runner, { ipv6: config.ipv6Support }),
            apply: (updates) => dp.apply(updates),
            resync: () => dp.resync(),
          };
        },
      });
      const log = componentLogger(agent.logger, 'agent');
      prepareStateDir(agent.config.stateDir, agent.config.felixHostname, (m) => log.warn(m));

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
        await agent.start();
        const outcome = await Promise.race([
          signalled.then((signal) => ({ signal })),
          agent.done.then(
            () => ({ signal: undefined }),
            (err: unknown) => ({ error: err as Error }),
          ),
        ]);
        if ('signal' in outcome && outcome.signal) log.info({ signal: outcome.signal }, 'signal received; shutting down');
        await agent.stop().catch(() => undefined);
        if ('error' in outcome) throw new Error(`the agent stopped: ${outcome.error.message}`);
      } catch (err) {
        await agent.stop().catch(() => undefined);
        throw err;
      } finally {
        clearInterval(keepAlive);
        process.removeListener('SIGTERM', onSignal!);
        process.removeListener('SIGINT', onSignal!);
      }
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
