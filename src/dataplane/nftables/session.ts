/**
 * A resident `nft -i` inside the namespace, for the small transactions of everyday flushes
 * (see os/resident.ts for why a resident process).
 *
 * `nft -i` runs each input line as one batch, all or nothing, like `nft -f`, so a transaction is
 * sent as one line: its commands joined with `;`. The sentinel line after it is always a syntax
 * error; nft echoes it on standard error, so any error text before the sentinel's own message
 * means the transaction was rejected.
 *
 * Limits: transactions larger than {@link MAX_SESSION_BYTES}, or with a `#` (which would comment
 * out the rest of the joined line), are for `nft -f` (see {@link NftSession.accepts}). The
 * process is replaced after {@link MAX_SESSION_TRANSACTIONS} transactions (its line-editing
 * history grows) and runs with HOME=/nonexistent, so that it reads and writes no history file.
 */
import { ExecError, ResidentProcess, sentinelToken } from '../../os/mod.ts';

/** Largest transaction sent through the session; larger ones go to `nft -f`. */
export const MAX_SESSION_BYTES = 256 * 1024;
/** Transactions before the process is replaced. */
export const MAX_SESSION_TRANSACTIONS = 500;

/** Options of {@link NftSession}. */
export interface NftSessionOptions {
  /** Network namespace path (`/run/netns/NAME`); undefined for this process's own. */
  netns?: string;
  /** The nft program; default `nft`. */
  nft?: string;
}

/**
 * The end of one transaction in `nft -i`'s standard error: the echo of the sentinel line and the
 * caret line after it. What comes before the sentinel's own `Error:` line is the transaction's.
 */
export function parseNftSentinel(stderr: string, token: string): { result: string; rest: string } | undefined {
  const at = stderr.indexOf(`\n${token}\n`);
  if (at < 0) return undefined;
  const caretEnd = stderr.indexOf('\n', at + token.length + 2);
  if (caretEnd < 0) return undefined;
  const before = stderr.slice(0, at);
  const own = before.lastIndexOf('Error:');
  return { result: own < 0 ? before : before.slice(0, own), rest: stderr.slice(caretEnd + 1) };
}

/** Applies transactions through a resident `nft -i`; see the module comment. */
export class NftSession {
  readonly #nft: string;
  readonly #process: ResidentProcess;

  constructor(options: NftSessionOptions = {}) {
    this.#nft = options.nft ?? 'nft';
    this.#process = new ResidentProcess({
      argv: [this.#nft, '-i'],
      ...(options.netns !== undefined ? { netns: options.netns } : {}),
      env: { HOME: '/nonexistent' },
      maxJobs: MAX_SESSION_TRANSACTIONS,
    });
  }

  /** True when `text` (an `nft -f` script) can go through the session. */
  accepts(text: string): boolean {
    return this.#process.open && text.length <= MAX_SESSION_BYTES && !text.includes('#');
  }

  /**
   * Applies `text` as one transaction.
   * @throws {ExecError} when nft rejects it (nothing was applied), or when the session died or
   * timed out (then it is unknown whether it was applied: the caller re-reads the kernel).
   */
  async apply(text: string, timeoutMs = 120_000): Promise<void> {
    const line = text
      .split('\n')
      .map((l) => l.trim())
      .filter((l) => l !== '')
      .join('; ');
    const token = sentinelToken();
    let stderr: string;
    try {
      stderr = await this.#process.run(() => ({ input: `${line}\n${token}\n`, parse: (s) => parseNftSentinel(s, token) }), timeoutMs);
    } catch (err) {
      throw this.#error(null, '', err);
    }
    if (stderr.trim() !== '') throw this.#error(1, stderr);
  }

  #error(exitCode: number | null, stderr: string, cause?: unknown): ExecError {
    return new ExecError(
      { cmd: this.#nft, args: ['-i'], exitCode, signal: null, stdout: '', stderr, timedOut: false },
      cause === undefined ? undefined : { cause },
    );
  }

  /** Stops the process. */
  close(): void {
    this.#process.close();
  }
}
