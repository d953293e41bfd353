/**
 * Watches a namespace's routing table (`ip monitor route`) and records when routes to a
 * destination were deleted and added, with millisecond timestamps, to measure failover and
 * graceful restart. The monitor process is killed by PID.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerCleanup } from '../harness/cleanup.ts';

/** One change seen by the monitor. */
export interface RouteEvent {
  at: number;
  deleted: boolean;
  dst: string;
  line: string;
}

/** A running `ip monitor route`. */
export class RouteWatch {
  readonly events: RouteEvent[] = [];
  readonly #child: ChildProcess;
  readonly #undo: () => void;

  private constructor(child: ChildProcess) {
    this.#child = child;
    const pid = child.pid!;
    this.#undo = registerCleanup(() => {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    });
    let buf = '';
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (chunk: string) => {
      const at = Date.now();
      buf += chunk;
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        const m = /^(Deleted )?(?:blackhole |unreachable )?(\S+)/.exec(line);
        if (m) this.events.push({ at, deleted: !!m[1], dst: m[2]!, line });
      }
    });
  }

  /** Starts watching `netns`. */
  static async start(netns: string): Promise<RouteWatch> {
    const child = spawn('ip', ['-n', netns, 'monitor', 'route'], { stdio: ['ignore', 'pipe', 'ignore'] });
    const watch = new RouteWatch(child);
    await sleep(100); // let the monitor subscribe
    return watch;
  }

  /** The first deletion of `dst` at or after `since`. */
  deletedAt(dst: string, since = 0): number | undefined {
    return this.events.find((e) => e.deleted && e.dst === dst && e.at >= since)?.at;
  }

  /** Every event for `dst`. */
  of(dst: string): RouteEvent[] {
    return this.events.filter((e) => e.dst === dst);
  }

  stop(): void {
    this.#child.kill('SIGKILL');
    this.#undo();
  }
}
