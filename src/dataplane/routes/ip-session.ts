/**
 * A resident `ip -force -batch -` inside the namespace, for route changes (see os/resident.ts for
 * why a resident process). With `-force` ip runs every line and reports each failure as its
 * messages followed by `Command failed -:<line>`, counting lines from the start of the process;
 * the sentinel after a batch is `link show dev .`, which always fails ("." cannot name an
 * interface) without ending ip.
 */
import { ResidentProcess } from '../../os/mod.ts';

/** The sentinel line: always an error, never fatal to `ip -batch`. */
const SENTINEL = 'link show dev .';

/**
 * What ip says when it used a stale interface index: it caches name → index, so an interface
 * deleted behind its back (a container's namespace gone, its veth peer with it) and made again
 * under the same name (the same pod again) is addressed by its old, dead index.
 */
const STALE_INDEX = /No such device/;

/** Options of {@link IpSession}. */
export interface IpSessionOptions {
  /** Network namespace path (`/run/netns/NAME`); undefined for this process's own. */
  netns?: string;
  /** The ip program; default `ip`. */
  ip?: string;
}

/**
 * The failed lines of an `ip -force -batch` run among lines `first`..`first + count - 1` (1-based,
 * as ip counts): 0-based index → messages. ip prints each failure's messages, then
 * `Command failed -:<line>`.
 */
export function batchFailures(stderr: string, first = 1, count = Infinity): Map<number, string> {
  const failed = new Map<number, string>();
  let messages: string[] = [];
  for (const line of stderr.split('\n')) {
    const m = /^Command failed -:(\d+)\s*$/.exec(line);
    if (!m) {
      if (line.trim() !== '') messages.push(line.trim());
      continue;
    }
    const index = Number(m[1]) - first;
    if (index >= 0 && index < count) failed.set(index, messages.join('; ') || 'failed');
    messages = [];
  }
  return failed;
}

/** The failures of a batch of `count` lines from line `first`, once its sentinel (the next line) has failed. */
export function parseIpBatchErrors(stderr: string, first: number, count: number): { result: Map<number, string>; rest: string } | undefined {
  const sentinel = `Command failed -:${first + count}\n`;
  const end = stderr.indexOf(sentinel);
  if (end < 0) return undefined;
  return { result: batchFailures(stderr.slice(0, end), first, count), rest: stderr.slice(end + sentinel.length) };
}

/** Runs `ip` batches on a resident process; see the module comment. */
export class IpSession {
  readonly #process: ResidentProcess;

  constructor(options: IpSessionOptions = {}) {
    this.#process = new ResidentProcess({
      argv: [options.ip ?? 'ip', '-force', '-batch', '-'],
      ...(options.netns !== undefined ? { netns: options.netns } : {}),
    });
  }

  /**
   * Runs `lines` (ip commands without the program name, no newlines); resolves with the failed
   * ones by 0-based index and their messages. Rejects when the process dies or times out (then
   * it is unknown which lines ran).
   */
  async batch(lines: readonly string[], timeoutMs = 60_000): Promise<Map<number, string>> {
    for (const l of lines) if (l.includes('\n')) throw new Error(`ip batch line with a newline: ${JSON.stringify(l)}`);
    const failed = await this.#run(lines, timeoutMs);
    const stale = [...failed.keys()].filter((i) => STALE_INDEX.test(failed.get(i)!));
    if (stale.length === 0) return failed;
    // A fresh ip has no cache: the lines that met a stale index run again there (they changed nothing).
    this.#process.renew();
    const again = await this.#run(stale.map((i) => lines[i]!), timeoutMs);
    for (const [j, i] of stale.entries()) {
      const message = again.get(j);
      if (message === undefined) failed.delete(i);
      else failed.set(i, message);
    }
    return failed;
  }

  #run(lines: readonly string[], timeoutMs: number): Promise<Map<number, string>> {
    return this.#process.run(
      (read) => ({ input: `${[...lines, SENTINEL].join('\n')}\n`, parse: (s) => parseIpBatchErrors(s, read + 1, lines.length) }),
      timeoutMs,
    );
  }

  /** Starts `ip -batch` now, ahead of its first batch. */
  warm(): void {
    this.#process.warm();
  }

  /** Stops the process. */
  close(): void {
    this.#process.close();
  }
}
