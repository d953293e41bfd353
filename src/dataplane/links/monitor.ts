/**
 * Watches a namespace's links (a resident `ip -o monitor link`) and reports each workload
 * interface that appears or changes, as Felix's interface monitor does. Needed for interfaces
 * nobody announces to the agent: an OpenStack VM's tap is made by the hypervisor, after its
 * WorkloadEndpoint exists, and must then get its sysctls and its routes.
 *
 * The monitor restarts itself (after a pause) if `ip` exits; each restart is followed by a full
 * listing, so nothing that happened meanwhile is missed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';

/** Options of {@link LinkMonitor}. */
export interface LinkMonitorOptions {
  /** Watch this named network namespace (default: this process's). */
  netns?: string;
  /** Workload interface prefixes (`cali`, `tap`): other links are not reported. */
  prefixes: () => readonly string[];
  /** A workload interface exists (new, changed, or listed at start); `up`: administratively up (IFF_UP). */
  onLink: (name: string, up: boolean) => void;
  /** Pause before restarting a monitor that exited (default 1000 ms). */
  restartMs?: number;
}

/**
 * `12: tap123: <BROADCAST,…,UP> mtu 1500 …` (and `Deleted 12: …`) → the name, whether it went,
 * and whether it is up (`UP` among its flags: the kernel takes routes through it).
 */
export function parseLinkLine(line: string): { name: string; deleted: boolean; up: boolean } | undefined {
  const m = /^(Deleted\s+)?\d+:\s+([^:@\s]+)(@[^:\s]+)?:\s*(?:<([^>]*)>)?/.exec(line.trim());
  return m ? { name: m[2]!, deleted: m[1] !== undefined, up: (m[4] ?? '').split(',').includes('UP') } : undefined;
}

/** See the file comment. */
export class LinkMonitor {
  readonly #o: LinkMonitorOptions;
  #child: ChildProcess | undefined;
  #stopped = false;
  #timer: ReturnType<typeof setTimeout> | undefined;

  constructor(options: LinkMonitorOptions) {
    this.#o = options;
  }

  /** Starts watching; every existing workload interface is reported once first. */
  start(): void {
    if (this.#stopped || this.#child || this.#timer) return;
    const ns = this.#o.netns !== undefined ? ['-n', this.#o.netns] : [];
    // The monitor first, then the listing: a link made in between is reported at least once.
    const monitor = spawn('ip', [...ns, '-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.#child = monitor;
    this.#read(monitor);
    monitor.on('exit', () => {
      this.#child = undefined;
      if (!this.#stopped) {
        this.#timer = setTimeout(() => {
          this.#timer = undefined;
          this.start();
        }, this.#o.restartMs ?? 1000);
      }
    });
    monitor.on('error', () => undefined);
    const list = spawn('ip', [...ns, '-o', 'link', 'show'], { stdio: ['ignore', 'pipe', 'ignore'] });
    list.on('error', () => undefined);
    this.#read(list);
  }

  /** Stops the monitor. */
  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#child?.kill();
    this.#child = undefined;
  }

  #read(child: ChildProcess): void {
    if (!child.stdout) return;
    const lines = createInterface({ input: child.stdout });
    lines.on('line', (line) => {
      const link = parseLinkLine(line);
      if (!link || link.deleted) return;
      if (this.#o.prefixes().some((p) => link.name.startsWith(p))) this.#o.onLink(link.name, link.up);
    });
  }
}
