/**
 * The native binaries for tests: the thin plugins dist/cni/margay and dist/cni/margay-ipam, and
 * the agent's dist/cni/margay-netlink helper, built by scripts/install-deps.sh; rebuilt here the
 * same way when missing or older than the source, so that a test run never uses a stale one. Also runs a plugin binary the way libcni does
 * (environment + stdin, result on stdout, exit code).
 */
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE = join(REPO, 'native/cni-client.c');
export const CLIENT = join(REPO, 'dist/cni/margay');
export const IPAM_CLIENT = join(REPO, 'dist/cni/margay-ipam');
const HELPER_SOURCE = join(REPO, 'native/netlink-helper.c');
export const NETLINK_HELPER_BINARY = join(REPO, 'dist/cni/margay-netlink');

function stale(target: string, source: string): boolean {
  return !existsSync(target) || statSync(target).mtimeMs < statSync(source).mtimeMs;
}

function build(target: string, source: string): void {
  if (!stale(target, source)) return;
  mkdirSync(dirname(target), { recursive: true });
  execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', `${target}.tmp`, source]);
  renameSync(`${target}.tmp`, target);
}

/** Builds the native binaries if needed; returns the directory holding them. */
export function ensureClient(): string {
  build(CLIENT, SOURCE);
  build(NETLINK_HELPER_BINARY, HELPER_SOURCE);
  if (stale(IPAM_CLIENT, CLIENT)) copyFileSync(CLIENT, IPAM_CLIENT);
  return dirname(CLIENT);
}

/**
 * Writes `<dir>/margay-netlink-nofile<n>`: a script that runs the helper (built by
 * {@link ensureClient}) with at most `nofile` file descriptors (prlimit), for tests of what the
 * helper and its callers do when it runs out of them. Returns its path.
 */
export function helperWithFdLimit(dir: string, nofile: number): string {
  const path = join(dir, `margay-netlink-nofile${nofile}`);
  writeFileSync(path, `#!/bin/sh\nexec prlimit --nofile=${nofile} -- '${NETLINK_HELPER_BINARY}' "$@"\n`, { mode: 0o755 });
  return path;
}

/** What a plugin run printed and how it exited. */
export interface PluginRun {
  code: number;
  stdout: string;
  stderr: string;
  /** stdout parsed as JSON, when it is. */
  json: Record<string, unknown> | undefined;
}

/** Runs a CNI plugin binary with exactly `env` (plus PATH) and `stdin`. */
export function runPlugin(binary: string, env: Record<string, string | undefined>, stdin: string, timeoutMs = 120_000): Promise<PluginRun> {
  const clean: Record<string, string> = { PATH: process.env.PATH ?? '/usr/bin:/bin' };
  for (const [k, v] of Object.entries(env)) if (v !== undefined) clean[k] = v;
  return new Promise((resolvePromise, reject) => {
    const child = execFile(binary, [], { env: clean, timeout: timeoutMs, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err && typeof err.code !== 'number') {
        reject(err);
        return;
      }
      let json: Record<string, unknown> | undefined;
      try {
        json = stdout.trim() ? (JSON.parse(stdout) as Record<string, unknown>) : undefined;
      } catch {
        json = undefined;
      }
      resolvePromise({ code: err ? Number(err.code) : 0, stdout, stderr, json });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(stdin);
  });
}
