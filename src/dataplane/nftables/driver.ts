/**
 * The nftables driver: keeps a view of what table `inet margay` holds in the kernel, diffs the
 * desired state against it and applies the difference as one transaction: through a resident
 * `nft -i` when it is small (session.ts), else `nft -f -`.
 *
 * The view is read from the kernel on the first apply (so a restarted agent over an existing table
 * changes only what is wrong), on {@link NftablesDriver.resync} (to repair drift), and after a
 * failed transaction; between those it is updated from the transactions that succeeded. A failed
 * transaction changes nothing in the kernel; the driver re-reads the table and retries once with a
 * full diff (the view may have been stale), then reports the error.
 */
import { ExecError, type CommandRunner } from '../../os/mod.ts';
import { applyToView, computeTransaction, type DiffScope, type NftTransaction, type TableRef } from './diff.ts';
import { emptyKernelTable, parseNftListing, type KernelTable } from './kernel.ts';
import type { NftSession } from './session.ts';
import { isDirtyEmpty, type DesiredState, type DirtyNames } from './state.ts';

/** Options of {@link NftablesDriver}. */
export interface NftablesDriverOptions {
  /** Table name (family is always `inet`); default `margay`. */
  table?: string;
  /** The nft program; default `nft`. */
  nft?: string;
  /** Timeout of one nft run (ms); default 120000. */
  timeoutMs?: number;
  /** Run `nft -c -f -` before each transaction (off by default: a batch is atomic anyway). */
  checkFirst?: boolean;
  /** A resident `nft -i` for the transactions it accepts (small ones); others run `nft -f -`. */
  session?: NftSession;
}

/** What one apply did. */
export interface NftApplyOutcome {
  /** Commands in the transaction that was applied (0 when nothing differed). */
  commands: number;
  /** True when a transaction ran and succeeded. */
  applied: boolean;
  /** True when the kernel was read and everything compared. */
  fullSync: boolean;
  /** True when the first attempt failed and a full re-read and retry followed. */
  retried: boolean;
  /** True when the table was deleted and re-created in the batch. */
  rebuild: boolean;
  stats?: NftTransaction['stats'];
  /** Set when the transaction failed (nothing was applied). */
  error?: Error;
}

/** Diffs and applies the desired nftables state. */
export class NftablesDriver {
  readonly table: TableRef;
  private readonly nft: string;
  private readonly timeoutMs: number;
  private readonly checkFirst: boolean;
  private readonly session: NftSession | undefined;
  private view: KernelTable | undefined;
  /** A read of the table started by {@link prefetch}, for the next apply. */
  private prefetched: Promise<KernelTable> | undefined;
  private lastText = '';

  constructor(
    private readonly runner: CommandRunner,
    options: NftablesDriverOptions = {},
  ) {
    this.table = { family: 'inet', name: options.table ?? 'margay' };
    this.nft = options.nft ?? 'nft';
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.checkFirst = options.checkFirst ?? false;
    this.session = options.session;
  }

  /** The text of the last transaction attempted (empty when none). */
  get lastTransaction(): string {
    return this.lastText;
  }

  /** Forgets the view; the next apply reads the kernel and compares everything. */
  invalidate(): void {
    this.view = undefined;
  }

  /**
   * Starts reading the table now when the next apply will (`full`, or no view yet), so that `nft`
   * lists it while the caller renders the desired state; that apply uses the read.
   */
  prefetch(options: { full?: boolean } = {}): void {
    if (this.prefetched !== undefined || (options.full !== true && this.view !== undefined)) return;
    this.prefetched = this.read();
    this.prefetched.catch(() => undefined); // the apply that takes it sees the error
  }

  /** Reads the table from the kernel (an absent table reads as empty). */
  async read(): Promise<KernelTable> {
    const res = await this.runner(this.nft, ['-j', 'list', 'table', this.table.family, this.table.name], {
      allowFail: true,
      timeoutMs: this.timeoutMs,
    });
    if (res.code !== 0) {
      if (/No such file or directory/.test(res.stderr)) return emptyKernelTable();
      throw new ExecError({
        cmd: this.nft,
        args: ['-j', 'list', 'table', this.table.family, this.table.name],
        exitCode: res.code,
        signal: null,
        stdout: res.stdout,
        stderr: res.stderr,
        timedOut: false,
      });
    }
    return parseNftListing(res.stdout, this.table.family, this.table.name);
  }

  /**
   * Applies the difference for the dirty names (or everything with `full`, or when there is no
   * view yet). Never throws for a rejected transaction: the outcome carries the error.
   */
  async apply(desired: DesiredState, dirty: DirtyNames, options: { full?: boolean } = {}): Promise<NftApplyOutcome> {
    const full = options.full === true || this.view === undefined;
    const prefetched = this.prefetched;
    this.prefetched = undefined;
    const noop = { commands: 0, applied: false, rebuild: false };
    if (!full && isDirtyEmpty(dirty)) return { ...noop, fullSync: false, retried: false };
    if (full) {
      try {
        this.view = await (prefetched ?? this.read());
      } catch (err) {
        this.view = undefined;
        return { ...noop, fullSync: true, retried: false, error: err as Error };
      }
    }
    const first = await this.attempt(desired, full ? 'all' : dirty);
    if (!first.error) return { ...first, fullSync: full, retried: false };
    if (full) {
      this.view = undefined;
      return { ...first, fullSync: true, retried: false };
    }
    // The view may have been stale (someone changed the table): read it, compare everything, retry.
    try {
      this.view = await this.read();
    } catch (err) {
      this.view = undefined;
      return { ...first, fullSync: true, retried: true, error: err as Error };
    }
    const second = await this.attempt(desired, 'all');
    if (second.error) this.view = undefined;
    return { ...second, fullSync: true, retried: true };
  }

  private async attempt(desired: DesiredState, scope: DiffScope): Promise<Omit<NftApplyOutcome, 'fullSync' | 'retried'>> {
    const view = this.view ?? emptyKernelTable();
    const tx = computeTransaction(view, desired, scope, this.table);
    if (tx.lines.length === 0) return { commands: 0, applied: false, rebuild: false, stats: tx.stats };
    const text = tx.lines.join('\n') + '\n';
    this.lastText = text;
    try {
      if (this.checkFirst) await this.runner(this.nft, ['-c', '-f', '-'], { input: text, timeoutMs: this.timeoutMs });
      if (this.session?.accepts(text)) await this.session.apply(text, this.timeoutMs);
      else await this.runner(this.nft, ['-f', '-'], { input: text, timeoutMs: this.timeoutMs });
    } catch (err) {
      return { commands: tx.lines.length, applied: false, rebuild: tx.rebuild, stats: tx.stats, error: err as Error };
    }
    applyToView(view, desired, scope, tx.rebuild);
    this.view = view;
    return { commands: tx.lines.length, applied: true, rebuild: tx.rebuild, stats: tx.stats };
  }
}
