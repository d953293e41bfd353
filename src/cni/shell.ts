/**
 * A small pool of long-lived `sh` processes inside the host's network namespace, to which the CNI
 * service hands its kernel work as short scripts.
 *
 * Why: starting a process from Node costs several times what it costs from a shell (measured on
 * the development machine under load: ~75 ms for `nsenter … ip` spawned by Node against ~20 ms for
 * the same from a resident `sh`, and 0.1 ms for a sysctl written with a shell builtin instead of a
 * `sysctl` process). An ADD is then one script: its `ip` batches and its sysctls, in order.
 *
 * Each script runs in a subshell with `set -e`, its standard error merged into its output; the
 * shell then prints a sentinel line carrying the exit status. Commands in scripts must not read
 * standard input (it is the shell's script stream) except through here-documents. A script that
 * exceeds its timeout kills its shell (the whole process group); a new shell replaces it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/** What a script printed (stdout and stderr together) and its exit status. */
export interface ScriptResult {
  code: number;
  output: string;
}

/** Options of {@link ShellPool}. */
export interface ShellPoolOptions {
  /** Network namespace path the shells live in; undefined for the caller's own. */
  netns?: string;
  /** Most scripts running at once (default 4). */
  size?: number;
  /** Default timeout of one script in milliseconds (default 60000). */
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

let seq = 0;

class Shell {
  readonly child: ChildProcessWithoutNullStreams;
  #buffer = '';
  #pending: { token: string; resolve: (r: ScriptResult) => void; reject: (e: Error) => void; timer: NodeJS.Timeout } | undefined;
  dead = false;

  constructor(netns: string | undefined) {
    const [cmd, args] = netns ? ['nsenter', [`--net=${netns}`, 'sh']] : ['sh', []];
    // Its own process group, so that a timeout can kill whatever the script started.
    this.child = spawn(cmd, args as string[], { stdio: ['pipe', 'pipe', 'pipe'], detached: true });
    this.child.stdout.setEncoding('utf8');
    this.child.stdout.on('data', (d: string) => this.#onData(d));
    this.child.stderr.on('data', () => undefined);
    this.child.stdin.on('error', () => undefined);
    this.child.once('exit', () => this.#die(new Error('the helper shell exited')));
    this.child.once('error', (err) => this.#die(err));
  }

  #onData(d: string): void {
    this.#buffer += d;
    const p = this.#pending;
    if (!p) return;
    const marker = `\n${p.token} `;
    const at = this.#buffer.indexOf(marker);
    if (at < 0) return;
    const end = this.#buffer.indexOf('\n', at + marker.length);
    if (end < 0) return;
    const code = Number(this.#buffer.slice(at + marker.length, end));
    const output = this.#buffer.slice(0, at);
    this.#buffer = this.#buffer.slice(end + 1);
    this.#pending = undefined;
    clearTimeout(p.timer);
    p.resolve({ code, output });
  }

  #die(err: Error): void {
    if (this.dead) return;
    this.dead = true;
    const p = this.#pending;
    this.#pending = undefined;
    if (p) {
      clearTimeout(p.timer);
      p.reject(err);
    }
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

  run(script: string, timeoutMs: number): Promise<ScriptResult> {
    return new Promise((resolve, reject) => {
      if (this.dead) {
        reject(new Error('the helper shell is not running'));
        return;
      }
      const token = `__MARGAY_DONE_${process.pid}_${++seq}`;
      const timer = setTimeout(() => {
        this.kill();
        reject(new Error(`timed out after ${timeoutMs} ms`));
      }, timeoutMs);
      this.#pending = { token, resolve, reject, timer };
      this.#buffer = '';
      this.child.stdin.write(`(\nset -e\n${script}\n) 2>&1\n__rc=$?\nprintf '\\n%s %s\\n' ${token} "$__rc"\n`);
    });
  }
}

/** Runs scripts on a few resident shells; see the module comment. */
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

  async #take(): Promise<Shell> {
    if (this.#closed) throw new Error('the shell pool is closed');
    for (;;) {
      const s = this.#idle.pop();
      if (!s) break;
      if (!s.dead) return s;
      this.#all.delete(s);
    }
    if (this.#all.size < this.#size) {
      const s = new Shell(this.#netns);
      this.#all.add(s);
      s.child.once('exit', () => this.#all.delete(s));
      return s;
    }
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

  /** Runs a script; resolves with its output and status (a non-zero status is not an error here). */
  async run(script: string, timeoutMs = this.#timeoutMs): Promise<ScriptResult> {
    const s = await this.#take();
    try {
      return await s.run(script, timeoutMs);
    } finally {
      this.#give(s);
    }
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
