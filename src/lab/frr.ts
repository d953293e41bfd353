/**
 * FRR (zebra, staticd, bgpd) inside a network namespace, as docs/bgp.md and the reference run it:
 * explicit socket and pid paths in a world-writable folder, daemons as user `frr` (FRR refuses
 * `-u root` without the frrvty group). The lab's router runs on this; so do the BGP tests' peers.
 * The daemons fork into the background; their PIDs come from their pid files.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../os/mod.ts';

/** Where Debian's frr package puts the daemons. */
export const FRR_BIN = '/usr/lib/frr';

const DAEMONS = ['zebra', 'staticd', 'bgpd'] as const;
/** bfdd runs when a configuration is given for it (BFD on bgpd's sessions). */
const ALL_DAEMONS = [...DAEMONS, 'bfdd'] as const;

/** True when FRR's daemons are installed. */
export function frrAvailable(): boolean {
  return existsSync(join(FRR_BIN, 'bgpd')) && existsSync(join(FRR_BIN, 'zebra'));
}

/** Options of {@link startFrr}. */
export interface FrrOptions {
  /** The namespace the daemons run in. */
  netns: string;
  /** Their folder (created world-writable): configurations, sockets, pid files and logs. */
  dir: string;
  /** bgpd's configuration (a `log file` line is added). */
  bgpd: string;
  staticd?: string;
  zebra?: string;
  /** bfdd's configuration; bfdd is started (before bgpd) only when this is given. */
  bfdd?: string;
}

/** A running FRR. */
export interface Frr {
  dir: string;
  /** The PIDs from the daemons' pid files (those that started). */
  pids(): number[];
  /** Runs vtysh commands and returns their output. */
  vtysh(...commands: string[]): Promise<string>;
  /** Runs one `show … json` command and parses it. */
  json<T>(command: string): Promise<T>;
}

function readPids(dir: string): number[] {
  const pids: number[] = [];
  for (const d of ALL_DAEMONS) {
    try {
      const pid = Number(readFileSync(join(dir, `${d}.pid`), 'utf8').trim());
      if (Number.isInteger(pid) && pid > 0) pids.push(pid);
    } catch {
      // Not started.
    }
  }
  return pids;
}

/** Starts zebra, staticd and bgpd in `options.netns`; on failure, kills what started and throws. */
export async function startFrr(options: FrrOptions): Promise<Frr> {
  const { dir, netns } = options;
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o777);
  const texts: Partial<Record<(typeof ALL_DAEMONS)[number], string>> = {
    zebra: options.zebra ?? `hostname ${netns}\nlog file ${dir}/zebra.log\n`,
    staticd: options.staticd ?? '',
    ...(options.bfdd !== undefined ? { bfdd: `log file ${dir}/bfdd.log\n${options.bfdd}` } : {}),
    bgpd: `log file ${dir}/bgpd.log\n${options.bgpd}`,
  };
  // In start order: zebra first, bfdd before bgpd (bgpd registers its BFD sessions with it).
  const daemons = (Object.keys(texts) as (keyof typeof texts)[]);
  for (const d of daemons) {
    writeFileSync(join(dir, `${d}.conf`), texts[d]!);
    chmodSync(join(dir, `${d}.conf`), 0o666);
  }
  const common = ['-d', '-z', join(dir, 'zserv.api'), '--vty_socket', dir, '-A', '127.0.0.1'];
  try {
    for (const d of daemons) {
      // bfdd's control socket defaults to one path for the whole machine: each FRR gets its own.
      const own = d === 'bfdd' ? ['--bfdctl', join(dir, 'bfdd.sock')] : [];
      await exec(join(FRR_BIN, d), [...common, ...own, '-f', join(dir, `${d}.conf`), '-i', join(dir, `${d}.pid`)], { netns, timeoutMs: 15_000 });
    }
  } catch (err) {
    for (const pid of readPids(dir)) killQuietly(pid);
    throw err;
  }
  return frrAt(netns, dir);
}

/** The FRR whose folder is `dir` (started earlier, perhaps by another process). */
export function frrAt(netns: string, dir: string): Frr {
  const vtysh = async (...commands: string[]) => (await exec('vtysh', ['--vty_socket', dir, ...commands.flatMap((c) => ['-c', c])], { netns, timeoutMs: 15_000 })).stdout;
  return {
    dir,
    pids: () => readPids(dir),
    vtysh,
    async json<T>(command: string) {
      return JSON.parse(await vtysh(command)) as T;
    },
  };
}

/** One BGP session of an FRR router, from `show bgp summary json`. */
export interface FrrSession {
  peer: string;
  remoteAs: number;
  state: string;
  prefixesReceived: number;
}

/** The router's IPv4 and IPv6 unicast sessions. */
export async function frrSessions(frr: Frr): Promise<FrrSession[]> {
  type Summary = Record<string, { peers?: Record<string, { remoteAs: number; state: string; pfxRcd?: number }> }>;
  const summary = await frr.json<Summary>('show bgp summary json');
  return Object.values(summary).flatMap((family) =>
    Object.entries(family.peers ?? {}).map(([peer, p]) => ({ peer, remoteAs: p.remoteAs, state: p.state, prefixesReceived: p.pfxRcd ?? 0 })),
  );
}

function killQuietly(pid: number, signal: NodeJS.Signals = 'SIGKILL'): void {
  try {
    process.kill(pid, signal);
  } catch {
    // Already gone.
  }
}

/**
 * The bgpd configuration of an eBGP router that peers with `neighbors`. IPv4 neighbours carry
 * IPv4 unicast, IPv6 neighbours IPv6 unicast (each family over its own sessions, as the hosts'
 * BIRD renders them).
 */
export function routerBgpConfig(options: { asNumber: number; routerId: string; neighbors: { address: string; asNumber: number }[] }): string {
  const v6 = options.neighbors.filter((n) => n.address.includes(':'));
  return [
    `router bgp ${options.asNumber}`,
    ` bgp router-id ${options.routerId}`,
    // FRR 8 refuses to exchange eBGP routes without a policy unless told otherwise.
    ' no bgp ebgp-requires-policy',
    ' no bgp network import-check',
    ...options.neighbors.map((n) => ` neighbor ${n.address} remote-as ${n.asNumber}`),
    ...(v6.length > 0
      ? [
          ' address-family ipv4 unicast',
          ...v6.map((n) => `  no neighbor ${n.address} activate`),
          ' exit-address-family',
          ' address-family ipv6 unicast',
          ...v6.map((n) => `  neighbor ${n.address} activate`),
          ' exit-address-family',
        ]
      : []),
    '',
  ].join('\n');
}
