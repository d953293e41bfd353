/**
 * Starting allocation workers (alloc-worker.ts) as real child processes, collecting their output,
 * and killing them by PID — at the end of each test and, whatever happens, at process exit.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { registerCleanup } from '../harness/cleanup.ts';

const here = dirname(fileURLToPath(import.meta.url));
const root = join(here, '..', '..');

/** Options of one worker (see alloc-worker.ts). */
export interface WorkerOptions {
  endpoints: string[];
  mode: 'alloc' | 'release' | 'churn';
  node: string;
  tag: string;
  count?: number;
  concurrency?: number;
  waitGo?: boolean;
  num6?: number;
  thenRelease?: boolean;
  /** Write each pod's WorkloadEndpoint with its addresses, in the same transaction. */
  withEndpoint?: boolean;
}

/** A running worker. */
export interface Worker {
  readonly child: ChildProcess;
  readonly pid: number;
  /** Every JSON line printed so far. */
  readonly lines: unknown[];
  /** Resolves once the worker printed `ready`. */
  readonly ready: Promise<void>;
  /** Resolves with the exit code (or the signal name). */
  readonly exited: Promise<number | string>;
  stderr: string;
  go(): void;
  kill(signal?: NodeJS.Signals): void;
}

const live = new Set<ChildProcess>();
registerCleanup(() => {
  for (const c of live) {
    try {
      if (c.pid !== undefined) process.kill(c.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** Starts a worker process (node --import tsx test/ipam/alloc-worker.ts). */
export function startWorker(options: WorkerOptions): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', join(here, 'alloc-worker.ts'), JSON.stringify(options)], {
    cwd: root,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  if (child.pid === undefined) throw new Error('could not start an allocation worker');
  live.add(child);
  const lines: unknown[] = [];
  let buffer = '';
  let onReady: () => void;
  const ready = new Promise<void>((resolve) => (onReady = resolve));
  const worker: Worker = {
    child,
    pid: child.pid,
    lines,
    ready,
    stderr: '',
    exited: new Promise((resolve) => {
      child.once('exit', (code, signal) => {
        live.delete(child);
        resolve(code ?? signal ?? -1);
      });
    }),
    go: () => child.stdin?.write('go\n'),
    kill: (signal = 'SIGKILL') => {
      try {
        process.kill(child.pid!, signal);
      } catch {
        // already gone
      }
    },
  };
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    buffer += chunk;
    let nl: number;
    while ((nl = buffer.indexOf('\n')) >= 0) {
      const line = buffer.slice(0, nl);
      buffer = buffer.slice(nl + 1);
      if (line === '') continue;
      try {
        const v = JSON.parse(line) as unknown;
        if (v === 'ready') onReady();
        else lines.push(v);
      } catch {
        lines.push({ raw: line });
      }
    }
  });
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (worker.stderr += chunk));
  child.stdin!.on('error', () => {}); // a killed worker's stdin
  return worker;
}

/** Kills every worker still running (SIGKILL, by PID) and waits for them to exit. */
export async function killAll(workers: Worker[]): Promise<void> {
  for (const w of workers) w.kill('SIGKILL');
  await Promise.all(workers.map((w) => w.exited));
}
