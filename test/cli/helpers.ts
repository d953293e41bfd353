/** Runs the margay CLI in-process with captured output, or as a real process. */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Datastore } from '../../src/datastore/datastore.ts';
import { runCli } from '../../src/cli/main.ts';

/** The repository's root, where `src/cli/run.ts` runs from. */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** What one CLI run printed and returned. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `margay ARGS` with the datastore injected (or configured through `env`). */
export async function margay(args: string[], options: { datastore?: Datastore; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    datastore: options.datastore,
    env: options.env ?? {},
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
  });
  return { code, stdout, stderr };
}

/** The command line of the CLI as a process (from source, through tsx). */
const CLI = ['--import', 'tsx', 'src/cli/run.ts'];

/** Runs `margay ARGS` as a real process with only PATH and `env` in its environment. */
export function margayProcess(args: string[], options: { env?: NodeJS.ProcessEnv; input?: string } = {}): CliRun {
  const res = spawnSync(process.execPath, [...CLI, ...args], {
    cwd: root,
    encoding: 'utf8',
    env: { PATH: process.env.PATH, ...options.env },
    timeout: 60_000,
    ...(options.input !== undefined ? { input: options.input } : {}),
  });
  return { code: res.status ?? -1, stdout: res.stdout, stderr: res.stderr };
}

/**
 * Runs `margay ARGS` as a process whose standard output is closed before it writes anything, as
 * `margay … | head -0` would; resolves to its exit code and standard error.
 */
export function margayClosedStdout(args: string[], env: NodeJS.ProcessEnv = {}): Promise<{ code: number | null; stderr: string }> {
  const child = spawn(process.execPath, [...CLI, ...args], { cwd: root, env: { PATH: process.env.PATH, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout.destroy(); // the reader goes away: the child's first write meets EPIPE
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (t: string) => (stderr += t));
  return new Promise((done, fail) => {
    child.on('error', fail);
    child.on('close', (code) => done({ code, stderr }));
  });
}

/** Asserts the shape of every CLI failure: exit 1, one line on stderr matching `message`, no stack trace. */
export function assertOneLineError(run: CliRun, message: RegExp): void {
  assert.equal(run.code, 1, `exit code (stdout: ${run.stdout})`);
  assert.equal(run.stderr.trim().split('\n').length, 1, `one line: ${run.stderr}`);
  assert.match(run.stderr.trimEnd(), message);
  assert.doesNotMatch(run.stderr, /unexpected error|^\s+at /m, `no stack trace, no unexpected error: ${run.stderr}`);
}
