/**
 * A resident line-oriented program inside a network namespace (`nft -i`, `ip -force -batch -`):
 * jobs are lines written to its standard input, each followed by a sentinel line whose error
 * message on standard error marks the end of the job's own output there. Starting `nft` or `ip`
 * costs 10–50 ms on a loaded host; a line to a running one costs about a millisecond.
 *
 * Jobs run one at a time. A job that times out kills the process; a dead or retired process
 * (after `maxJobs` jobs) is replaced at the next job. An idle process does not keep Node alive,
 * and it exits when Node does (its standard input closes).
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';

/** One job: what to write, and how to find its end in standard error. */
export interface ResidentJob<T> {
  /** Lines to write (ending with the sentinel line, each ending with a newline). */
  input: string;
  /** Looks at standard error so far; once the sentinel is complete, the result and what follows it. */
  parse(stderr: string): { result: T; rest: string } | undefined;
}

/** Options of {@link ResidentProcess}. */
export interface ResidentOptions {
  /** The program and its arguments. */
  argv: [string, ...string[]];
  /** Network namespace path (`/run/netns/NAME`); undefined for this process's own. */
  netns?: string;
  /** Extra environment. */
  env?: Record<string, string>;
  /** Jobs before the process is replaced (default unlimited). */
  maxJobs?: number;
}

let seq = 0;

/**
 * The one job a helper process (here, or a shell of shell.ts) runs at a time: settled exactly
 * once, by its result, its timeout or the end of the process.
 */
export class JobSlot<T> {
  #job: { resolve: (value: T) => void; reject: (err: Error) => void; timer: NodeJS.Timeout } | undefined;

  /** True while a job runs. */
  get busy(): boolean {
    return this.#job !== undefined;
  }

  /** Starts a job; on timeout `onTimeout` runs (it kills the process) and the job rejects with `timeoutError`. */
  start(timeoutMs: number, onTimeout: () => void, timeoutError: Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#job = undefined; // rejected as a timeout, not as a dead process
        onTimeout();
        reject(timeoutError);
      }, timeoutMs);
      this.#job = { resolve, reject, timer };
    });
  }

  /** Settles the job with its result. */
  resolve(value: T): void {
    const job = this.#take();
    job?.resolve(value);
  }

  /** Fails the job, if one runs. */
  reject(err: Error): void {
    const job = this.#take();
    job?.reject(err);
  }

  #take() {
    const job = this.#job;
    this.#job = undefined;
    if (job) clearTimeout(job.timer);
    return job;
  }
}

/** Lets an idle helper process not keep Node running (`on` false), or keeps it while it works. */
export function holdOpen(child: ChildProcessWithoutNullStreams, on: boolean): void {
  if (on) child.ref();
  else child.unref();
  for (const s of [child.stdin, child.stdout, child.stderr]) {
    const h = s as unknown as { ref?: () => void; unref?: () => void };
    if (on) h.ref?.();
    else h.unref?.();
  }
}

/** A unique token for a sentinel line. */
export function sentinelToken(): string {
  return `margay_sentinel_${process.pid}_${++seq}`;
}

class Running {
  readonly child: ChildProcessWithoutNullStreams;
  jobs = 0;
  /** Lines written so far (`ip -batch` numbers errors by line). */
  lines = 0;
  dead = false;
  readonly #slot = new JobSlot<unknown>();
  #parse: ((stderr: string) => { result: unknown; rest: string } | undefined) | undefined;
  #stderr = '';

  constructor(options: ResidentOptions) {
    const [cmd, ...args] = options.netns ? ['nsenter', `--net=${options.netns}`, ...options.argv] : options.argv;
    this.child = spawn(cmd as string, args, { stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, ...options.env } });
    this.child.stdout.resume(); // jobs print nothing there that we need; drain it
    this.child.stderr.setEncoding('utf8');
    this.child.stderr.on('data', (d: string) => this.#onStderr(d));
    this.child.stdin.on('error', () => undefined);
    this.child.once('exit', (code) => {
      // What it said last on standard error (outside a job's answer) is usually why it stopped.
      const last = this.#stderr.trim().split('\n').pop();
      this.#die(new Error(`${options.argv[0]} exited (${code})${last ? `: ${last}` : ''}`));
    });
    this.child.once('error', (err) => this.#die(err));
    holdOpen(this.child, false);
  }

  #onStderr(d: string): void {
    this.#stderr += d;
    if (!this.#slot.busy || !this.#parse) return;
    const done = this.#parse(this.#stderr);
    if (!done) return;
    this.#stderr = done.rest;
    holdOpen(this.child, false);
    this.#slot.resolve(done.result);
  }

  #die(err: Error): void {
    this.dead = true;
    this.#slot.reject(err);
  }

  kill(): void {
    this.#die(new Error('stopped'));
    this.child.kill('SIGKILL');
  }

  run<T>(job: ResidentJob<T>, timeoutMs: number): Promise<T> {
    if (this.dead) return Promise.reject(new Error('not running'));
    const done = this.#slot.start(timeoutMs, () => this.kill(), new Error(`no answer within ${timeoutMs} ms`));
    this.#parse = job.parse;
    this.jobs++;
    this.lines += job.input.split('\n').length - 1;
    holdOpen(this.child, true);
    this.child.stdin.write(job.input);
    return done as Promise<T>;
  }
}

/** Runs jobs on one resident process; see the module comment. */
export class ResidentProcess {
  readonly #options: ResidentOptions;
  #running: Running | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #closed = false;

  constructor(options: ResidentOptions) {
    this.#options = options;
  }

  /** False once closed. */
  get open(): boolean {
    return !this.#closed;
  }

  /** The process's id while one runs. */
  get pid(): number | undefined {
    const p = this.#running;
    return p && !p.dead ? p.child.pid : undefined;
  }

  /** Starts the process now, when none runs, ahead of its first job (see ShellPool.warm). */
  warm(): void {
    if (!this.#closed && (this.#running === undefined || this.#running.dead)) this.#running = new Running(this.#options);
  }

  /**
   * Runs one job, after any queued before it. `build` gets the number of lines the process has
   * read so far. Rejects when the process dies, is closed or times out.
   */
  run<T>(build: (linesSoFar: number) => ResidentJob<T>, timeoutMs: number): Promise<T> {
    const job = async (): Promise<T> => {
      const proc = this.#take();
      return proc.run(build(proc.lines), timeoutMs);
    };
    const next = this.#queue.then(job, job);
    this.#queue = next.catch(() => undefined);
    return next;
  }

  #take(): Running {
    if (this.#closed) throw new Error(`${this.#options.argv[0]}: closed`);
    const p = this.#running;
    if (p && !p.dead && p.jobs < (this.#options.maxJobs ?? Infinity)) return p;
    if (p && !p.dead) p.child.stdin.end(); // retired: it exits at the end of its input
    this.#running = new Running(this.#options);
    return this.#running;
  }

  /**
   * Retires the process once the jobs queued so far are done: the next job starts a fresh one
   * (which has none of the old one's state, such as ip's interface-name cache).
   */
  renew(): void {
    const job = async (): Promise<void> => {
      const p = this.#running;
      if (p && !p.dead) p.child.stdin.end(); // it exits at the end of its input
      this.#running = undefined;
    };
    this.#queue = this.#queue.then(job, job);
  }

  /** Stops the process. */
  close(): void {
    this.#closed = true;
    this.#running?.kill();
    this.#running = undefined;
  }
}
