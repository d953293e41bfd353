/**
 * Throwaway network namespaces ("test hosts") for integration tests. Each is named
 * `<prefix>-<pid>-<n>` (default prefix `mgt`) so that clean-up can find it, and is always removed:
 * by `delete()`, and otherwise when the process exits or is interrupted, even after a failure.
 * Processes started inside with `spawn()` are killed by PID first.
 *
 * Nothing here touches the root namespace's addresses, routes or links: links are created from
 * inside the namespaces (`ip -n`), and veth peers are born in their target namespace.
 */
import { execFile, spawn as spawnProcess, spawnSync, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { after, before } from 'node:test';
import { registerCleanup } from './cleanup.ts';
import { processAlive } from '../../src/os/mod.ts';

/** What a command printed and how it exited. */
export interface ExecResult {
  stdout: string;
  stderr: string;
  /** The exit code (non-zero only with `allowFail`). */
  code: number;
}

/** Options of {@link TestNetns.exec}. */
export interface ExecOptions {
  /** Written to the command's standard input. */
  input?: string;
  /** Kill the command after this many milliseconds (default 30000). */
  timeoutMs?: number;
  /** Return a non-zero exit instead of throwing. */
  allowFail?: boolean;
}

/** A network namespace made for a test. */
export interface TestNetns {
  readonly name: string;
  /** Runs `cmd args…` inside the namespace (`ip netns exec`); throws on a non-zero exit unless `allowFail`. */
  exec(cmd: string, args?: string[], options?: ExecOptions): Promise<ExecResult>;
  /** Starts a long-running process inside the namespace; it is killed by PID on `delete()`. */
  spawn(cmd: string, args?: string[], options?: SpawnOptions): ChildProcess;
  /** Kills what runs inside, then removes the namespace. Idempotent. */
  delete(): Promise<void>;
}

const NETNS_DIR = '/var/run/netns';
let seq = 0;

/** Runs a command (no shell); throws with its stderr on failure unless `allowFail`. */
export function run(cmd: string, args: string[], options: ExecOptions = {}): Promise<ExecResult> {
  return new Promise((resolve, reject) => {
    const child = execFile(
      cmd,
      args,
      { timeout: options.timeoutMs ?? 30_000, maxBuffer: 64 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : 1) : 0;
        if (err && !(options.allowFail && typeof err.code === 'number')) {
          reject(new Error(`${cmd} ${args.join(' ')} failed (${err.code ?? err.signal ?? 'error'}): ${stderr.trim() || err.message}`));
          return;
        }
        resolve({ stdout, stderr, code });
      },
    );
    if (options.input !== undefined) child.stdin?.end(options.input);
  });
}

/** True when a namespace of that name exists. */
export function netnsExists(name: string): boolean {
  return existsSync(`${NETNS_DIR}/${name}`);
}

/** Synchronously kills everything inside `name` and removes it (for exit hooks). */
function deleteNetnsSync(name: string, children: Set<ChildProcess>): void {
  for (const child of children) {
    if (child.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  const pids = spawnSync('ip', ['netns', 'pids', name], { encoding: 'utf8' });
  for (const pid of (pids.stdout ?? '').split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(pid), 'SIGKILL');
    } catch {
      // already gone
    }
  }
  spawnSync('ip', ['netns', 'delete', name]);
}

function requireIp(): void {
  const res = spawnSync('ip', ['-V'], { encoding: 'utf8' });
  if (res.error || res.status !== 0) {
    throw new Error('the ip command (iproute2) is missing: run scripts/install-deps.sh');
  }
  if (process.getuid && process.getuid() !== 0) {
    throw new Error('network namespace tests need root');
  }
}

/** Creates a namespace named `<prefix>-<pid>-<n>` with its loopback up. */
export async function createTestNetns(prefix = 'mgt'): Promise<TestNetns> {
  requireIp();
  const name = `${prefix}-${process.pid}-${seq++}`;
  const children = new Set<ChildProcess>();
  await run('ip', ['netns', 'add', name]);
  const runUndo = registerCleanup(() => deleteNetnsSync(name, children));
  let deleted: Promise<void> | undefined;
  const ns: TestNetns = {
    name,
    exec: (cmd, args = [], options = {}) => run('ip', ['netns', 'exec', name, cmd, ...args], options),
    spawn: (cmd, args = [], options = {}) => {
      const child = spawnProcess('ip', ['netns', 'exec', name, cmd, ...args], { stdio: 'ignore', ...options });
      children.add(child);
      child.once('exit', () => children.delete(child));
      return child;
    },
    delete: () =>
      (deleted ??= (async () => {
        runUndo();
      })()),
  };
  try {
    await run('ip', ['-n', name, 'link', 'set', 'lo', 'up']);
  } catch (err) {
    await ns.delete();
    throw err;
  }
  return ns;
}

/** Options of {@link vethPair}. */
export interface VethOptions {
  /** Interface name in `a` (at most 15 characters); default `mgv<n>a`. */
  nameA?: string;
  /** Interface name in `b`; default `mgv<n>b`. */
  nameB?: string;
  /** Address with prefix length for the `a` side, e.g. `192.0.2.1/24`. */
  addressA?: string;
  addressB?: string;
  /** Bring both ends up (default true). */
  up?: boolean;
}

let vethSeq = 0;

/** Links two namespaces with a veth pair, optionally addressed, created inside them. */
export async function vethPair(a: TestNetns, b: TestNetns, options: VethOptions = {}): Promise<{ nameA: string; nameB: string }> {
  const n = vethSeq++;
  const nameA = options.nameA ?? `mgv${n}a`;
  const nameB = options.nameB ?? `mgv${n}b`;
  await run('ip', ['-n', a.name, 'link', 'add', nameA, 'type', 'veth', 'peer', 'name', nameB, 'netns', b.name]);
  for (const [ns, dev, addr] of [
    [a, nameA, options.addressA],
    [b, nameB, options.addressB],
  ] as const) {
    if (addr) await run('ip', ['-n', ns.name, 'addr', 'add', addr, 'dev', dev]);
    if (options.up ?? true) await run('ip', ['-n', ns.name, 'link', 'set', dev, 'up']);
  }
  return { nameA, nameB };
}

/**
 * Removes namespaces left by earlier test processes that died without cleaning up: those named
 * `<prefix>-<pid>-<n>` whose pid no longer runs. Returns the names removed.
 */
export function cleanupStaleTestNetns(prefix = 'mgt'): string[] {
  if (!existsSync(NETNS_DIR)) return [];
  const pattern = new RegExp(`^${prefix.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}-(\\d+)-\\d+$`);
  const removed: string[] = [];
  for (const name of readdirSync(NETNS_DIR)) {
    const m = pattern.exec(name);
    if (!m) continue;
    const pid = Number(m[1]);
    if (pid === process.pid || processAlive(pid)) continue;
    deleteNetnsSync(name, new Set());
    removed.push(name);
  }
  return removed;
}


/**
 * Creates `count` namespaces in a `before` hook and deletes them in an `after` hook of the
 * enclosing suite (call at definition time). They are available as `.all` once the hook ran.
 */
export function useTestNetns(count = 1, prefix = 'mgt'): { readonly all: TestNetns[] } {
  const all: TestNetns[] = [];
  before(async () => {
    for (let i = 0; i < count; i++) all.push(await createTestNetns(prefix));
  });
  after(async () => {
    for (const ns of all.splice(0)) await ns.delete();
  });
  return { all };
}
