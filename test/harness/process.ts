/**
 * The harness's child processes: one started with its output in a log file, a synchronous
 * SIGKILL by PID, a log's tail.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync } from 'node:fs';
import { registerCleanup } from './cleanup.ts';

/** SIGKILL by PID, now (for exit hooks); a process already gone is fine. */
export function killPid(pid: number | undefined): void {
  if (pid === undefined) return;
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

/** The last `lines` lines of a log file, for error messages. */
export function logTail(file: string, lines = 30): string {
  if (!existsSync(file)) return '(no log)';
  return readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** A list of a test's child processes, each SIGKILLed at exit (or by `killAll`) if still there. */
export function trackChildren<T extends { child: { pid?: number | undefined } }>(): { list: T[]; killAll: () => void } {
  const list: T[] = [];
  const killAll = registerCleanup(() => {
    for (const p of list) killPid(p.child.pid);
  });
  return { list, killAll };
}

/** A server the harness runs (etcd, kube-apiserver, …): stdout and stderr appended to `logFile`. */
export class LoggedProcess {
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();

  constructor(
    readonly name: string,
    readonly bin: string,
    readonly args: readonly string[],
    readonly logFile: string,
  ) {}

  get pid(): number | undefined {
    return this.#child?.pid;
  }

  /** True from spawn until the process exits. */
  get running(): boolean {
    return this.#child !== undefined;
  }

  /** Starts the process (once; a running one is left alone). Does not wait for readiness. */
  spawn(): void {
    if (this.#child) return;
    const log = openSync(this.logFile, 'a');
    let child: ChildProcess;
    try {
      child = spawn(this.bin, [...this.args], { stdio: ['ignore', log, log] });
    } finally {
      closeSync(log);
    }
    if (child.pid === undefined) throw new Error(`could not start ${this.name}`);
    this.#child = child;
    this.#exited = new Promise((resolve) => {
      child.once('exit', () => {
        if (this.#child === child) this.#child = undefined;
        resolve();
      });
    });
  }

  /** Sends `signal` and waits for the exit; SIGKILL follows after `graceMs` if it is still there. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 10_000): Promise<void> {
    const child = this.#child;
    if (!child) return;
    child.kill(signal);
    const timer = signal === 'SIGKILL' ? undefined : setTimeout(() => child.kill('SIGKILL'), graceMs);
    await this.#exited;
    clearTimeout(timer);
  }

  /** Synchronous SIGKILL for exit hooks. */
  killNow(): void {
    killPid(this.#child?.pid);
  }

  logTail(lines = 30): string {
    return logTail(this.logFile, lines);
  }
}
