/**
 * `margay ipam`: calicoctl's IPAM commands.
 *   show [--show-blocks] [--ip <ip>]   utilisation per pool (and block), or who holds an address
 *   check                              every inconsistency; exit 1 when there is any
 *   release --ip <ip> [--force]        release addresses (refuses one a workload endpoint lists, unless --force)
 *   configure --strictaffinity=<bool> [--max-blocks-per-host <n>]
 */
import type { Command } from 'commander';
import { ipPoolKind } from '../../api/mod.ts';
import { ipReservationKind } from '../../api/mod.ts';
import { nodeKind } from '../../api/mod.ts';
import { workloadEndpointKind } from '../../api/mod.ts';
import type { ResourceStore } from '../../datastore/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import { checkIpam } from '../../ipam/mod.ts';
import { renderAssignment, renderCheck, renderUsage } from '../../ipam/mod.ts';
import { Ipam } from '../../ipam/mod.ts';
import { formatIp, parseIp } from '../../net/mod.ts';
import { workloadFromResource } from '../../ipam/mod.ts';
import { poolFromResource, poolOf, reservationsFromResources, type PoolInfo } from '../../ipam/mod.ts';
import { computeUsage } from '../../ipam/mod.ts';
import type { CliContext } from '../context.ts';

async function pools(store: ResourceStore): Promise<PoolInfo[]> {
  return (await store.list(ipPoolKind)).items.map(poolFromResource).filter((p): p is PoolInfo => p !== undefined);
}

function parseAddress(text: string): string {
  const ip = parseIp(text);
  if (!ip) throw new MargayError('MARGAY_ERR_USAGE', `--ip: ${JSON.stringify(text)} is not an IP address`);
  return formatIp(ip);
}

function parseBool(flag: string) {
  return (value: string): boolean => {
    if (/^(true|1|yes)$/i.test(value)) return true;
    if (/^(false|0|no)$/i.test(value)) return false;
    throw new MargayError('MARGAY_ERR_USAGE', `${flag}: expected true or false, got ${JSON.stringify(value)}`);
  };
}

function parseCount(flag: string) {
  return (value: string): number => {
    if (!/^\d+$/.test(value)) throw new MargayError('MARGAY_ERR_USAGE', `${flag}: expected a whole number ≥ 0, got ${JSON.stringify(value)}`);
    return Number(value);
  };
}

async function show(ctx: CliContext, opts: { showBlocks?: boolean; ip?: string }): Promise<void> {
  const store = await ctx.store();
  if (opts.ip !== undefined) {
    const address = parseAddress(opts.ip);
    const ipam = new Ipam(store.datastore);
    const info = await ipam.getAssignmentAttributes(address);
    ctx.stdout(renderAssignment(address, info, poolOf(await pools(store), parseIp(address)!)?.name));
    return;
  }
  const [snapshot, poolList, reservations] = await Promise.all([
    new Ipam(store.datastore).snapshot(),
    pools(store),
    store.list(ipReservationKind).then((r) => reservationsFromResources(r.items)),
  ]);
  ctx.stdout(renderUsage(computeUsage(snapshot, poolList, reservations), { showBlocks: opts.showBlocks ?? false }));
}

async function check(ctx: CliContext): Promise<void> {
  const store = await ctx.store();
  const snapshot = await new Ipam(store.datastore).snapshot();
  const [poolList, nodes, weps] = await Promise.all([pools(store), store.list(nodeKind), store.list(workloadEndpointKind)]);
  const report = checkIpam({
    snapshot,
    pools: poolList,
    nodes: new Set(nodes.items.map((n) => n.metadata.name)),
    workloads: weps.items.map(workloadFromResource),
  });
  ctx.stdout(renderCheck(report));
  if (report.problems.length > 0) {
    throw new MargayError('MARGAY_ERR_IPAM_INCONSISTENT', `IPAM is inconsistent: ${report.problems.length} problem(s) (see the report above)`);
  }
}

async function release(ctx: CliContext, opts: { ip?: string[]; force?: boolean }): Promise<void> {
  const ips = (opts.ip ?? []).map(parseAddress);
  if (ips.length === 0) throw new MargayError('MARGAY_ERR_USAGE', 'give the address to release with --ip <address>');
  const store = await ctx.store();
  if (!opts.force) {
    const users = (await store.list(workloadEndpointKind)).items.map(workloadFromResource);
    for (const ip of ips) {
      const user = users.find((w) => w.ips.includes(ip));
      if (user) {
        throw new MargayError('MARGAY_ERR_ADDRESS_IN_USE', `${ip} is used by workload endpoint ${user.namespace}/${user.name}; delete it first, or release anyway with --force`);
      }
    }
  }
  const result = await new Ipam(store.datastore).releaseIps(ips);
  for (const ip of result.released) ctx.stdout(`Successfully released IP address ${ip}\n`);
  if (result.notAllocated.length > 0) {
    throw new MargayError('MARGAY_ERR_NOT_FOUND', `IP address ${result.notAllocated.join(', ')} is not assigned`);
  }
}

async function configure(ctx: CliContext, opts: { strictaffinity?: boolean; maxBlocksPerHost?: number }): Promise<void> {
  if (opts.strictaffinity === undefined && opts.maxBlocksPerHost === undefined) {
    throw new MargayError('MARGAY_ERR_USAGE', 'nothing to configure: give --strictaffinity=<true|false> and/or --max-blocks-per-host <n>');
  }
  const store = await ctx.store();
  const config = await new Ipam(store.datastore).setConfig({
    ...(opts.strictaffinity === undefined ? {} : { strictAffinity: opts.strictaffinity }),
    ...(opts.maxBlocksPerHost === undefined ? {} : { maxBlocksPerHost: opts.maxBlocksPerHost }),
  });
  if (opts.strictaffinity !== undefined) ctx.stdout(`Successfully set StrictAffinity to: ${config.strictAffinity}\n`);
  if (opts.maxBlocksPerHost !== undefined) ctx.stdout(`Successfully set MaxBlocksPerHost to: ${config.maxBlocksPerHost}\n`);
}

/** Registers `ipam` and its subcommands. */
export function registerIpam(program: Command, ctx: CliContext): void {
  const ipam = program
    .command('ipam')
    .description('IP address management: utilisation, consistency, release, settings')
    .action(() => {
      ctx.stderr(ipam.helpInformation());
      throw new MargayError('MARGAY_ERR_USAGE', 'a subcommand is required: show, check, release or configure');
    });
  ipam
    .command('show')
    .description('Show pool (and block) utilisation, or who holds one address')
    .option('--show-blocks', 'add a row per block', false)
    .option('--ip <address>', 'say who holds this address')
    .action((opts: { showBlocks?: boolean; ip?: string }) => show(ctx, opts));
  ipam
    .command('check')
    .description('Report leaked addresses, orphaned handles, blocks without affinity, duplicates, count mismatches; exit 1 when any')
    .action(() => check(ctx));
  ipam
    .command('release')
    .description('Release addresses')
    .option('--ip <address>', 'an address to release (repeatable)', (v: string, prev: string[] = []) => [...prev, v])
    .option('--force', 'release even an address a workload endpoint lists', false)
    .action((opts: { ip?: string[]; force?: boolean }) => release(ctx, opts));
  ipam
    .command('configure')
    .description('Change IPAM settings')
    .option('--strictaffinity <bool>', 'true: never borrow addresses from other hosts\' blocks', parseBool('--strictaffinity'))
    .option('--max-blocks-per-host <n>', 'most blocks one host may claim per family (0: the default, 20)', parseCount('--max-blocks-per-host'))
    .action((opts: { strictaffinity?: boolean; maxBlocksPerHost?: number }) => configure(ctx, opts));
  for (const cmd of [ipam, ...ipam.commands]) {
    cmd.exitOverride().configureOutput({ writeOut: (s) => ctx.stdout(s), writeErr: (s) => ctx.stderr(s), outputError: () => {} });
  }
}
