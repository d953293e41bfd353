/**
 * The thin plugin binaries for tests: dist/cni/margay and dist/cni/margay-ipam, built by
 * scripts/install-deps.sh; rebuilt here the same way when missing or older than the source, so
 * that a test run never uses a stale client. Also runs a plugin binary the way libcni does
 * (environment + stdin, result on stdout, exit code).
 */
import { execFile, execFileSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, renameSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const SOURCE = join(REPO, 'native/cni-client.c');
export const CLIENT = join(REPO, 'dist/cni/margay');
export const IPAM_CLIENT = join(REPO, 'dist/cni/margay-ipam');

function stale(target: string, source: string): boolean {
  return !existsSync(target) || statSync(target).mtimeMs < statSync(source).mtimeMs;
}

/** Builds the client binaries if needed; returns the directory holding them. */
export function ensureClient(): string {
  if (stale(CLIENT, SOURCE)) {
    mkdirSync(dirname(CLIENT), { recursive: true });
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-o', `${CLIENT}.tmp`, SOURCE]);
    renameSync(`${CLIENT}.tmp`, CLIENT);
  }
  if (stale(IPAM_CLIENT, CLIENT)) copyFileSync(CLIENT, IPAM_CLIENT);
  return dirname(CLIENT);
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
