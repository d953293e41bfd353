/**
 * `margay controllers`: runs the cluster controllers in the foreground (leader election, IPAM
 * garbage collection) until SIGTERM or SIGINT, then resigns leadership and exits 0.
 */
import type { Command } from 'commander';
import { parseGoDuration } from '../../api/kinds/infra-common.ts';
import { createLogger } from '../../controllers/logger.ts';
import { startControllers } from '../../controllers/run.ts';
import { MargayError } from '../../errors/mod.ts';
import type { CliContext } from '../context.ts';
import { runInForeground } from '../foreground.ts';

interface ControllersFlags {
  leakGracePeriod?: string;
  interval?: string;
  leaseTtl?: string;
  identity?: string;
  logLevel: string;
}

function durationMs(flag: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const s = parseGoDuration(text);
  if (s === undefined || s < 0) throw new MargayError('MARGAY_ERR_USAGE', `${flag}: expected a duration such as 30s, 5m or 1h, got ${JSON.stringify(text)}`);
  return Math.round(s * 1000);
}

async function run(ctx: CliContext, flags: ControllersFlags): Promise<void> {
  const leakGraceMs = durationMs('--leak-grace-period', flags.leakGracePeriod);
  const intervalMs = durationMs('--interval', flags.interval);
  const ttl = flags.leaseTtl === undefined ? undefined : Number(flags.leaseTtl);
  if (ttl !== undefined && !(Number.isInteger(ttl) && ttl >= 2)) throw new MargayError('MARGAY_ERR_USAGE', `--lease-ttl: expected whole seconds ≥ 2, got ${JSON.stringify(flags.leaseTtl)}`);
  const { datastore } = await ctx.store();
  const running = startControllers({
    datastore,
    logger: createLogger({ level: flags.logLevel }),
    ...(flags.identity === undefined ? {} : { identity: flags.identity }),
    ...(leakGraceMs === undefined ? {} : { leakGraceMs }),
    ...(intervalMs === undefined ? {} : { intervalMs }),
    ...(ttl === undefined ? {} : { leaseTtlSeconds: ttl }),
  });
  await runInForeground(running);
}

/** Registers `controllers`. */
export function registerControllers(program: Command, ctx: CliContext): void {
  program
    .command('controllers')
    .description('Run the cluster controllers (one active per cluster, by etcd lease): IPAM garbage collection')
    .option('--leak-grace-period <duration>', 'release unused addresses after this long (default: KubeControllersConfiguration, else 15m)')
    .option('--interval <duration>', 'time between garbage collection passes (default: half the grace period, 1s–5m)')
    .option('--lease-ttl <seconds>', 'leader lease TTL in seconds (default 15)')
    .option('--identity <name>', 'this process in the leader election (default <hostname>-<pid>)')
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .action((flags: ControllersFlags) => run(ctx, flags));
}
