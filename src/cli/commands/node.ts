/**
 * `margay node status`: calicoctl's view of this host's BGP sessions, read from BIRD's control
 * socket, plus BFD (a Margay extension): one column per peer and a table of BFD sessions.
 *
 * The socket is `--bird-socket PATH` (default /var/lib/margay/bird/bird.ctl, under the agent's state
 * directory), or the one of the BIRD running in network namespace `--netns NAME` (found from its
 * command line), which is how the lab's hosts are inspected.
 */
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';
import type { Command } from 'commander';
import type { BfdSessionStatus, BgpPeerStatus } from '../../bgp/mod.ts';
import { type NodeStatus, readNodeStatus } from '../../bgp/mod.ts';
import { exec } from '../../os/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import type { CliContext } from '../context.ts';

export { type NodeStatus, readNodeStatus };

/** Where the agent puts BIRD's control socket by default. */
export const DEFAULT_BIRD_SOCKET = '/var/lib/margay/bird/bird.ctl';

/** The control socket of the BIRD running in a network namespace (from its `-s` argument). */
export async function findBirdSocketInNetns(netns: string): Promise<string> {
  const res = await exec('ip', ['netns', 'pids', netns], { allowFail: true, timeoutMs: 5000 });
  if (res.code !== 0) {
    throw new MargayError('MARGAY_ERR_NOT_FOUND', `network namespace ${netns} cannot be read: ${res.stderr.trim() || `ip netns pids exited ${res.code}`}`);
  }
  for (const pid of res.stdout.split(/\s+/).filter(Boolean)) {
    let argv: string[];
    try {
      argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (basename(argv[0] ?? '') !== 'bird') continue;
    const i = argv.indexOf('-s');
    if (i >= 0 && argv[i + 1]) return argv[i + 1]!;
    return '/run/bird/bird.ctl';
  }
  throw new MargayError('MARGAY_ERR_NOT_FOUND', `no BIRD process runs in network namespace ${netns}`);
}

/** calicoctl's "SINCE": the time of day when it is today, else the date. */
export function formatSince(since: string, now: Date = new Date()): string {
  const iso = /^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})/.exec(since);
  if (!iso) return since.replace(/\.\d+$/, '');
  const today = `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}-${String(now.getDate()).padStart(2, '0')}`;
  return iso[1] === today ? iso[2]! : iso[1]!;
}

/** A bordered table with centred headers, as calicoctl prints it. */
export function borderedTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const centre = (text: string, w: number) => {
    const left = Math.floor((w - text.length) / 2);
    return `${' '.repeat(left)}${text}${' '.repeat(w - text.length - left)}`;
  };
  const out = [line, `| ${headers.map((h, i) => centre(h, widths[i]!)).join(' | ')} |`, line];
  for (const r of rows) out.push(`| ${r.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`);
  out.push(line);
  return `${out.join('\n')}\n`;
}

function bfdStateOf(peer: BgpPeerStatus, sessions: BfdSessionStatus[]): string {
  const s = sessions.find((b) => b.address === peer.address && (peer.interface === undefined || b.interface === '---' || b.interface === peer.interface));
  return s ? s.state : '-';
}

/** Renders the status the way calicoctl does, with the BFD additions. */
export function renderNodeStatus(status: NodeStatus, now: Date = new Date()): string {
  let out = 'Calico process is running.\n';
  for (const family of [4, 6] as const) {
    out += `\nIPv${family} BGP status\n`;
    const peers = status.peers.filter((p) => p.family === family);
    if (peers.length === 0) {
      out += `No IPv${family} peers found.\n`;
      continue;
    }
    const rows = peers.map((p) => [
      p.interface ? `${p.address}%${p.interface}` : p.address,
      p.type === 'unnumbered' && p.interface ? `unnumbered (${p.interface})` : p.type,
      p.state,
      formatSince(p.since, now),
      p.info,
      bfdStateOf(p, status.bfd),
    ]);
    out += borderedTable(['PEER ADDRESS', 'PEER TYPE', 'STATE', 'SINCE', 'INFO', 'BFD'], rows);
  }
  out += '\nBFD sessions\n';
  if (status.bfd.length === 0) {
    out += 'No BFD sessions.\n';
  } else {
    out += borderedTable(
      ['PEER ADDRESS', 'INTERFACE', 'STATE', 'SINCE', 'INTERVAL', 'TIMEOUT'],
      status.bfd.map((s) => [s.address, s.interface, s.state, formatSince(s.since, now), `${Math.round(s.interval * 1000)}ms`, `${Math.round(s.timeout * 1000)}ms`]),
    );
  }
  return out;
}

/** Registers `node status`. */
export function registerNode(program: Command, ctx: CliContext): void {
  const node = program.command('node').description('Inspect this host as a Margay node');
  node
    .command('status')
    .description("Show this host's BGP peers (and their BFD state) from BIRD")
    .option('--bird-socket <path>', `BIRD control socket (default ${DEFAULT_BIRD_SOCKET})`)
    .option('--netns <name>', 'inspect the BIRD running in this network namespace (lab hosts)')
    .action(async (opts: { birdSocket?: string; netns?: string }) => {
      if (opts.birdSocket && opts.netns) throw new MargayError('MARGAY_ERR_USAGE', '--bird-socket and --netns cannot be used together');
      const socket = opts.birdSocket ?? (opts.netns ? await findBirdSocketInNetns(opts.netns) : DEFAULT_BIRD_SOCKET);
      let status: NodeStatus;
      try {
        status = await readNodeStatus(socket);
      } catch (err) {
        ctx.stdout('Calico process is not running.\n');
        throw new MargayError('MARGAY_ERR_NOT_FOUND', `BIRD does not answer on ${socket}: ${(err as Error).message}`);
      }
      ctx.stdout(renderNodeStatus(status));
    });
  for (const cmd of node.commands) cmd.exitOverride().configureOutput({ writeOut: (s) => ctx.stdout(s), writeErr: (s) => ctx.stderr(s), outputError: () => {} });
}
