/** Small helpers for the harness's child processes: a synchronous SIGKILL by PID, a log's tail. */
import { existsSync, readFileSync } from 'node:fs';
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
