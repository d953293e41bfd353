/**
 * FRR 8 (zebra, staticd, bgpd) inside a test namespace, the way components.md §3 runs it:
 * explicit socket and pid paths in a world-writable state directory, daemons as user `frr`
 * (FRR refuses `-u root` without the frrvty group). Stopped by PID; the namespace's deletion
 * kills whatever is left.
 */
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerCleanup } from '../harness/cleanup.ts';
import { run, type TestNetns } from '../harness/netns.ts';

export const FRR_BIN = '/usr/lib/frr';

/** True when FRR's daemons are installed. */
export function frrAvailable(): boolean {
  return existsSync(join(FRR_BIN, 'bgpd')) && existsSync(join(FRR_BIN, 'zebra'));
}

/** A running FRR. */
export interface Frr {
  dir: string;
  /** Runs vtysh commands and returns the output. */
  vtysh(...commands: string[]): Promise<string>;
  /** `show bgp ... json` style helper. */
  json<T>(command: string): Promise<T>;
  stop(): Promise<void>;
}

/**
 * Starts zebra, staticd and bgpd in `ns` with the given configuration texts, in a fresh
 * world-writable directory under the system temp dir (FRR runs as user `frr`).
 */
export async function startFrr(ns: TestNetns, config: { bgpd: string; staticd?: string; zebra?: string }): Promise<Frr> {
  const dir = mkdtempSync(join(tmpdir(), 'margay-frr-'));
  chmodSync(dir, 0o777);
  const daemons = ['zebra', 'staticd', 'bgpd'] as const;
  const texts = {
    zebra: config.zebra ?? `hostname ${ns.name}\nlog file ${dir}/zebra.log\n`,
    staticd: config.staticd ?? '',
    bgpd: `log file ${dir}/bgpd.log\n${config.bgpd}`,
  };
  for (const d of daemons) {
    writeFileSync(join(dir, `${d}.conf`), texts[d]);
    chmodSync(join(dir, `${d}.conf`), 0o666);
  }
  const pidFiles = daemons.map((d) => join(dir, `${d}.pid`));
  const kill = () => {
    for (const f of pidFiles) {
      try {
        process.kill(Number(readFileSync(f, 'utf8').trim()), 'SIGKILL');
      } catch {
        // not started or already gone
      }
    }
  };
  const undo = registerCleanup(() => {
    kill();
    rmSync(dir, { recursive: true, force: true });
  });
  const common = ['-d', '-z', join(dir, 'zserv.api'), '--vty_socket', dir, '-A', '127.0.0.1'];
  try {
    for (const d of daemons) {
      await ns.exec(join(FRR_BIN, d), [...common, '-f', join(dir, `${d}.conf`), '-i', join(dir, `${d}.pid`)], { timeoutMs: 15_000 });
    }
  } catch (err) {
    undo();
    throw err;
  }
  const vtysh = async (...commands: string[]) =>
    (await ns.exec('vtysh', ['--vty_socket', dir, ...commands.flatMap((c) => ['-c', c])], { timeoutMs: 15_000 })).stdout;
  return {
    dir,
    vtysh,
    async json<T>(command: string) {
      return JSON.parse(await vtysh(command)) as T;
    },
    async stop() {
      for (const f of pidFiles) {
        try {
          process.kill(Number(readFileSync(f, 'utf8').trim()), 'SIGTERM');
        } catch {
          // gone
        }
      }
      await sleep(200);
      undo();
    },
  };
}

/** A kernel route as `ip -j route` prints it. */
export interface JsonRoute {
  dst: string;
  gateway?: string;
  protocol?: string;
  dev?: string;
  via?: { family: string; host: string };
  nexthops?: { gateway?: string; dev?: string }[];
}

/** The gateways of a route: its one gateway, or those of its ECMP next hops. */
export function gatewaysOf(route: JsonRoute | undefined): string[] {
  if (!route) return [];
  if (route.gateway) return [route.gateway];
  return (route.nexthops ?? []).map((n) => n.gateway ?? '').filter(Boolean);
}

/** The kernel routes of a namespace as `ip -j route` objects. */
export async function nsRoutes(ns: TestNetns, family: 4 | 6 = 4): Promise<JsonRoute[]> {
  return JSON.parse((await run('ip', ['-n', ns.name, '-j', `-${family}`, 'route', 'show'])).stdout || '[]') as never;
}
