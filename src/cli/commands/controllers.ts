/**
 * `margay controllers`: runs the cluster controllers in the foreground (leader election, IPAM
 * garbage collection) until SIGTERM or SIGINT, then resigns leadership and exits 0.
 */
import { type Command, Option } from 'commander';
import { parseGoDuration } from '../../api/mod.ts';
import { MAX_DURATION_SECONDS, MAX_DURATION_TEXT } from '../../api/mod.ts';
import { createLogger, type LogLevel } from '../../log/mod.ts';
import { startControllers } from '../../controllers/mod.ts';
import { MargayError, quote } from '../../errors/mod.ts';
import type { CliContext } from '../context.ts';
import { runInForeground } from '../foreground.ts';

interface ControllersFlags {
  leakGracePeriod?: string;
  interval?: string;
  leaseTtl?: string;
  identity?: string;
  logLevel: string;
}

function durationMs(flag: string, text: string | undefined, options: { positive?: boolean } = {}): number | undefined {
  if (text === undefined) return undefined;
  const s = parseGoDuration(text);
  const ms = s === undefined ? undefined : Math.round(s * 1000);
  if (ms === undefined || ms < 0 || (options.positive && ms === 0) || ms > MAX_DURATION_SECONDS * 1000) {
    throw new MargayError('MARGAY_ERR_USAGE', `${flag}: expected a duration${options.positive ? ' of at least 1ms' : ''} such as 30s, 5m or 1h, at most ${MAX_DURATION_TEXT}, got ${quote(text)}`);
  }
  return ms;
}

async function run(ctx: CliContext, flags: ControllersFlags): Promise<void> {
  const leakGraceMs = durationMs('--leak-grace-period', flags.leakGracePeriod);
  // A zero interval would run passes back to back without a pause.
  const intervalMs = durationMs('--interval', flags.interval, { positive: true });
  const ttl = flags.leaseTtl === undefined ? undefined : Number(flags.leaseTtl);
  // etcd takes lease TTLs up to 9,000,000,000 s; renewals wait a third of it, so keep it a day at most.
  if (ttl !== undefined && !(Number.isInteger(ttl) && ttl >= 2 && ttl <= 86_400)) throw new MargayError('MARGAY_ERR_USAGE', `--lease-ttl: expected whole seconds from 2 to 86400, got ${quote(flags.leaseTtl)}`);
  if (flags.identity !== undefined && flags.identity.trim() === '') throw new MargayError('MARGAY_ERR_USAGE', '--identity: expected a name, got ""');
  const { datastore } = await ctx.store();
  const running = startControllers({
    datastore,
    // pino refuses an unknown level name.
    logger: createLogger({ level: flags.logLevel as LogLevel, component: 'controllers' }),
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
    .addOption(new Option('--log-level <level>', 'log level').choices(['debug', 'info', 'warn', 'error']).default('info'))
    .action((flags: ControllersFlags) => run(ctx, flags));
}
