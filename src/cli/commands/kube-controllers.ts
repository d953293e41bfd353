/**
 * `margay kube-controllers`: runs the Kubernetes controllers in the foreground (one active per
 * cluster, by etcd lease) until SIGTERM or SIGINT, then resigns leadership and exits 0. Reaches
 * the Kubernetes API with `--kubeconfig` (or `$KUBECONFIG`), else the pod's service account.
 */
import type { Command } from 'commander';
import { createLogger, type LogLevel } from '../../log/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import { inClusterAccess, KubeClient, loadKubeconfig, startKubeControllers } from '../../kube/mod.ts';
import type { CliContext } from '../context.ts';
import { runInForeground } from '../foreground.ts';

interface KubeControllersFlags {
  kubeconfig?: string;
  context?: string;
  leaseTtl?: string;
  identity?: string;
  configPoll?: string;
  logLevel: string;
}

function seconds(flag: string, text: string | undefined, min: number): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!(Number.isInteger(n) && n >= min)) throw new MargayError('MARGAY_ERR_USAGE', `${flag}: expected whole seconds ≥ ${min}, got ${JSON.stringify(text)}`);
  return n;
}

async function run(ctx: CliContext, flags: KubeControllersFlags): Promise<void> {
  const ttl = seconds('--lease-ttl', flags.leaseTtl, 2);
  const poll = seconds('--config-poll', flags.configPoll, 1);
  const file = flags.kubeconfig ?? process.env.KUBECONFIG;
  const access = file ? loadKubeconfig(file, flags.context === undefined ? {} : { context: flags.context }) : inClusterAccess();
  if (!access) throw new MargayError('MARGAY_ERR_CONFIG', 'no Kubernetes API to talk to: pass --kubeconfig (or set KUBECONFIG), or run in a pod with a service account');
  const client = new KubeClient(access);
  const { datastore } = await ctx.store();
  const running = startKubeControllers({
    datastore,
    client,
    logger: createLogger({ level: flags.logLevel as LogLevel, component: 'kube-controllers' }),
    ...(flags.identity === undefined ? {} : { identity: flags.identity }),
    ...(ttl === undefined ? {} : { leaseTtlSeconds: ttl }),
    ...(poll === undefined ? {} : { configPollMs: poll * 1000 }),
  });
  try {
    await runInForeground(running);
  } finally {
    client.close();
  }
}

/** Registers `kube-controllers`. */
export function registerKubeControllers(program: Command, ctx: CliContext): void {
  program
    .command('kube-controllers')
    .description('Run the Kubernetes controllers (one active per cluster, by etcd lease): namespaces, service accounts, network policies, pod labels, node clean-up and IPAM garbage collection')
    .option('--kubeconfig <file>', 'kubeconfig of the Kubernetes API (default $KUBECONFIG, else the pod\'s service account)')
    .option('--context <name>', 'kubeconfig context (default: its current-context)')
    .option('--lease-ttl <seconds>', 'leader lease TTL in seconds (default 15)')
    .option('--identity <name>', 'this process in the leader election (default <hostname>-<pid>)')
    .option('--config-poll <seconds>', 'how often KubeControllersConfiguration is read again (default 30)')
    .option('--log-level <level>', 'debug, info, warn or error', 'info')
    .action((flags: KubeControllersFlags) => run(ctx, flags));
}
