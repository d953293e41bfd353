/**
 * A small pool of long-lived `sh` processes inside a network namespace, to which kernel work is
 * handed as short scripts or single commands. The CNI service's plumbing and the agent's
 * dataplane both run through it.
 *
 * Why: starting a process from Node costs several times what it costs from a shell (measured on
 * the development machine under load: 35–90 ms for `ip netns exec … nft` spawned by Node against
 * 10–20 ms for the same from a resident `sh`, and 0.1 ms for a sysctl written with a shell builtin
 * instead of a process). Node forks its whole address space; a resident shell is small, and being
 * inside the namespace already, it needs no `ip netns exec` either.
 *
 * Protocol: each job runs in a subshell; the shell then prints a sentinel line carrying the exit
 * status on standard output, and one on standard error, so both streams are delimited. Commands
 * never read the shell's standard input (it is the script stream): {@link ShellPool.exec} gives
 * them /dev/null or their input through a private temporary file (removed after), and scripts must use
 * here-documents. A job that exceeds its timeout kills its shell (the whole process group); a new
 * shell replaces it on the next job. Idle shells do not keep Node running, and a shell exits when
 * Node does (its standard input closes).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readFile, unlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ExecError, type RunOptions, type RunResult } from './exec.ts';
import { holdOpen, JobSlot } from './resident.ts';

/** What a script printed (stdout and stderr together) and its exit status. */
export interface ScriptResult {
  code: number;
  output: string;
}

/** Options of {@link ShellPool}. */
export interface ShellPoolOptions {
  /** Network namespace path the shells live in (`/run/netns/NAME`); undefined for the caller's own. */
  netns?: string;
  /** Most jobs running at once (default 4). */
  size?: number;
  /** Default timeout of one job in milliseconds (default 60000). */
  timeoutMs?: number;
}

/** Quotes a word for `sh`. */
export function shq(word: string): string {
  return `'${word.replaceAll("'", `'\\''`)}'`;
}

/** A here-document feeding `lines` to `cmd` (e.g. `ip -batch -`). */
export function heredoc(cmd: string, lines: string[]): string {
  for (const l of lines) if (l.includes('__MARGAY_EOF__') || l.includes('\n')) throw new Error(`unsafe here-document line: ${JSON.stringify(l)}`);
  return `${cmd} <<'__MARGAY_EOF__'\n${lines.join('\n')}\n__MARGAY_EOF__`;
}

/**
 * The script lines that write sysctls (paths relative to /proc/sys) with shell builtins, each only
 * when its value differs: reading is free, while some writes take the kernel's RTNL lock even for
 * the same value (an interface's `forwarding`), which a busy host makes slow. (dash's `read`
 * reports failure on /proc files even when it read the value, hence `|| :`.)
 */
export function sysctlScript(pairs: ReadonlyArray<readonly [string, string]>): string {
  for (const [path] of pairs) checkSysctlPath(path);
  return pairs
    .map(([path, value]) => {
      const file = shq(`/proc/sys/${path}`);
      return `__v=; read -r __v < ${file} 2>/dev/null || :; [ "$__v" = ${shq(value)} ] || printf %s ${shq(value)} > ${file}`;
    })
    .join('\n');
}

/** Throws unless `path` (under /proc/sys) is plain segments: no `..`, `.` or empty one. */
export function checkSysctlPath(path: string): void {
  if (path.split('/').some((p) => p === '..' || p === '' || p === '.')) throw new Error(`sysctl path ${JSON.stringify(path)} is not valid`);
}

/**
 * Collects one stream up to a sentinel without rescanning what came before (outputs can be tens
 * of megabytes: a large `nft -j list`).
 */
class SentinelStream {
  #chunks: string[] = [];
  #length = 0;
  /** The last few characters, where a sentinel split across chunks may start. */
  #tail = '';
  #marker = '';

  /** Starts waiting for `marker` followed by the rest of its line. */
  expect(marker: string): void {
    this.#chunks = [];
    this.#length = 0;
    this.#tail = '';
    this.#marker = marker;
  }

  /** Adds data; returns what came before the sentinel and the rest of its line, once both arrived. */
  push(data: string): { before: string; line: string } | undefined {
    if (this.#marker === '') return undefined; // no job: stray output
    const start = this.#length - this.#tail.length;
    this.#chunks.push(data);
    this.#length += data.length;
    const window = this.#tail + data;
    const at = window.indexOf(this.#marker);
    const eol = at < 0 ? -1 : window.indexOf('\n', at + this.#marker.length);
    if (eol < 0) {
      // Keep enough to find a marker that straddles chunks (or the end of its line).
      this.#tail = at >= 0 ? window.slice(at) : window.slice(-(this.#marker.length + 16));
      return undefined;
    }
    const all = this.#chunks.join('');
    const found = { before: all.slice(0, start + at), line: window.slice(at + this.#marker.length, eol) };
    this.#marker = '';
    this.#chunks = [];
    this.#tail = '';
    return found;
  }
}

let seq = 0;

/** What one job produced. */
interface JobResult {
  code: number;
  stdout: string;
  stderr: string;
}

class Shell {
  readonly child: ChildProcessWithoutNullStreams;
  readonly #out = new SentinelStream();
  readonly #err = new SentinelStream();
  readonly #slot = new JobSlot<JobResult>();
  #code: number | undefined;
  #stderr: string | undefined;
  #stdout = '';
  dead = false;

  constructor(netns: string | undefined) {
    const [cmd, args] = netns ? ['nsenter', [`--net=${netns}`, 'sh']] : ['sh', []];
    // Its own process group, so that a timeout can kill whatever the job started.
    this.child = spawn(cmd, args as string[], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child.stdout.setEncoding('utf8');
    this.child.stderr.setEncoding('utf8');
    this.child.stdout.on('data', (d: string) => this.#onStdout(d));
    this.child.stderr.on('data', (d: string) => this.#onStderr(d));
    this.child.stdin.on('error', () => undefined);
    this.child.once('exit', () => this.#die(new Error('the helper shell exited')));
    this.child.once('error', (err) => this.#die(err));
    holdOpen(this.child, false);
  }

  #onStdout(d: string): void {
    const found = this.#out.push(d);
    if (!found) return;
    this.#stdout = found.before;
    this.#code = Number(found.line.trim());
    this.#settle();
  }

  #onStderr(d: string): void {
    const found = this.#err.push(d);
    if (!found) return;
    this.#stderr = found.before;
    this.#settle();
  }

  #settle(): void {
    if (!this.#slot.busy || this.#code === undefined || this.#stderr === undefined) return;
    holdOpen(this.child, false);
    this.#slot.resolve({ code: this.#code, stdout: this.#stdout, stderr: this.#stderr });
  }

  #die(err: Error): void {
    this.dead = true;
    this.#slot.reject(err);
  }

  kill(): void {
    this.#die(new Error('the helper shell was stopped'));
    if (this.child.pid !== undefined) {
      try {
        process.kill(-this.child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
  }

  /**
   * Runs one job; `merge` sends its standard error into its standard output.
   */
  run(script: string, timeoutMs: number, merge: boolean): Promise<JobResult> {
    if (this.dead) return Promise.reject(new Error('the helper shell is not running'));
    const token = `__MARGAY_DONE_${process.pid}_${++seq}`;
    const done = this.#slot.start(timeoutMs, () => this.kill(), new TimeoutError(`no answer after ${timeoutMs} ms`));
    this.#code = undefined;
    this.#stderr = undefined;
    this.#out.expect(`\n${token} `);
    this.#err.expect(`\n${token}`);
    holdOpen(this.child, true);
    this.child.stdin.write(
      `(\nset -e\n${script}\n) ${merge ? '2>&1' : ''}\n__rc=$?\nprintf '\\n%s %s\\n' ${token} "$__rc"\nprintf '\\n%s\\n' ${token} >&2\n`,
    );
    return done;
  }
}

class TimeoutError extends Error {}

/** Runs scripts and commands on a few resident shells; see the module comment. */
export class ShellPool {
  readonly #netns: string | undefined;
  readonly #size: number;
  readonly #timeoutMs: number;
  readonly #idle: Shell[] = [];
  readonly #all = new Set<Shell>();
  readonly #waiting: ((s: Shell) => void)[] = [];
  #closed = false;

  constructor(options: ShellPoolOptions = {}) {
    this.#netns = options.netns;
    this.#size = Math.max(1, options.size ?? 4);
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Shells running (idle or busy). */
  get running(): number {
    return this.#all.size;
  }

  /**
   * Starts shells until the pool's size run, idle, ahead of the jobs that will use them: forked
   * while this process is small they cost it less, and no job waits for one (an agent's cold start).
   */
  warm(): void {
    while (!this.#closed && this.#all.size < this.#size) this.#idle.push(this.#spawn());
  }

  #spawn(): Shell {
    const s = new Shell(this.#netns);
    this.#all.add(s);
    s.child.once('exit', () => this.#all.delete(s));
    return s;
  }

  async #take(): Promise<Shell> {
    if (this.#closed) throw new Error('the shell pool is closed');
    for (;;) {
      const s = this.#idle.pop();
      if (!s) break;
      if (!s.dead) return s;
      this.#all.delete(s);
    }
    if (this.#all.size < this.#size) return this.#spawn();
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  #give(s: Shell): void {
    if (s.dead) this.#all.delete(s);
    const next = this.#waiting.shift();
    if (next) {
      if (s.dead) void this.#take().then(next);
      else next(s);
      return;
    }
    if (!s.dead) this.#idle.push(s);
  }

  async #job(script: string, timeoutMs: number, merge: boolean): Promise<JobResult> {
    const s = await this.#take();
    try {
      return await s.run(script, timeoutMs, merge);
    } finally {
      this.#give(s);
    }
  }

  /**
   * Runs a script (under `set -e`); resolves with its output (standard error included) and status.
   * A non-zero status is not an error here; a timeout or a dead shell is.
   */
  async run(script: string, timeoutMs = this.#timeoutMs): Promise<ScriptResult> {
    const r = await this.#job(script, timeoutMs, true);
    return { code: r.code, output: r.stdout };
  }

  /**
   * Runs one command as {@link import('./exec.ts').exec} does (the same result and
   * {@link ExecError}), from a resident shell: arguments are quoted, never interpreted.
   */
  async exec(cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
    // A fresh private file per command (created exclusively, removed after): the shells share this process's mounts.
    const input = options.input === undefined ? undefined : join(tmpdir(), `margay-input-${process.pid}-${randomBytes(8).toString('hex')}`);
    const fail = (init: Partial<ConstructorParameters<typeof ExecError>[0]>, cause?: unknown) =>
      new ExecError(
        { cmd, args, exitCode: null, signal: null, stdout: '', stderr: '', timedOut: false, ...init },
        cause === undefined ? undefined : { cause },
      );
    try {
      if (input !== undefined) await writeFile(input, options.input as string, { mode: 0o600, flag: 'wx' });
      const line = `${[cmd, ...args].map(shq).join(' ')} < ${input === undefined ? '/dev/null' : shq(input)}`;
      let r: JobResult;
      try {
        r = await this.#job(line, options.timeoutMs ?? this.#timeoutMs, false);
      } catch (err) {
        throw fail({ timedOut: err instanceof TimeoutError }, err);
      }
      if (r.code === 0 || options.allowFail) return r;
      throw fail({ exitCode: r.code, stdout: r.stdout, stderr: r.stderr });
    } finally {
      if (input !== undefined) await unlink(input).catch(() => undefined);
    }
  }

  /**
   * Writes sysctls (paths relative to /proc/sys) whose value differs, without starting a process: with `fs` when the
   * pool lives in this process's own namespace, else with shell builtins from a resident shell (a
   * namespace's sysctls are only reachable from inside it).
   */
  async writeSysctls(pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
    const script = sysctlScript(pairs); // validates the paths
    if (pairs.length === 0) return;
    if (this.#netns === undefined) {
      for (const [path, value] of pairs) {
        const file = `/proc/sys/${path}`;
        // Only what differs, as sysctlScript does.
        if ((await readFile(file, 'utf8').catch(() => '')).trim() !== value) await writeFile(file, value);
      }
      return;
    }
    const r = await this.run(script);
    if (r.code !== 0) throw new Error(`writing sysctls failed: ${r.output.trim()}`);
  }

  /** Stops every shell. */
  close(): void {
    this.#closed = true;
    for (const s of this.#all) {
      s.child.stdin.end();
      s.kill();
    }
    this.#all.clear();
    this.#idle.length = 0;
  }
}
