/**
 * The nftables driver: keeps a view of what table `inet margay` holds in the kernel, diffs the
 * desired state against it and applies the difference as one transaction: as a netlink batch
 * through an element writer when every command of it has a netlink form (elements, regular chains
 * added, flushed, refilled and deleted, rules rule-parse.ts supports: netlink-batch.ts), else
 * through a resident `nft -i` when it is small (session.ts), else `nft -f -`.
 *
 * Deferred deletions: the policy objects the desired state drops (a policy list's chains when its
 * last pod left it, a deleted policy's chains and IP sets: names.ts `isPolicyObject`) stay in the
 * kernel, unused (nothing reachable refers to them), as "orphans": the transaction is smaller,
 * often elements only, and a change that wants them back (a label flipped back, a
 * pod returning to a list) finds them already right. An apply with `tidy` (the agent asks for one
 * once changes have paused) or a full comparison deletes them; when more than
 * {@link MAX_ORPHANS} would wait, the transaction goes through nft and deletes them all. Only
 * with an element writer: without one, every drop is deleted at once.
 *
 * The view is read from the kernel on the first apply (so a restarted agent over an existing table
 * changes only what is wrong), on {@link NftablesDriver.resync} (to repair drift), and after a
 * failed transaction; between those it is updated from the transactions that succeeded. A failed
 * transaction changes nothing in the kernel; the driver re-reads the table and retries once with a
 * full diff (the view may have been stale), then reports the error.
 */
import { writeFileSync } from 'node:fs';
import { unlink } from 'node:fs/promises';
import { ExecError, type CommandRunner } from '../../os/mod.ts';
import { applyToView, computeTransaction, type DiffScope, type NftTransaction, type TableRef } from './diff.ts';
import { emptyKernelTable, parseNftListing, type KernelTable } from './kernel.ts';
import { aheadPath, removeStaleAheadFiles } from './ahead-files.ts';
import { AheadStream } from './ahead-stream.ts';
import { aheadScope, aheadText, listsTable, switchOnBatches } from './load-ahead.ts';
import { isPolicyObject } from './names.ts';
import { encodeTransactionBatch } from './netlink-batch.ts';
import type { NftSession } from './session.ts';
import { isDirtyEmpty, type DesiredState, type DirtyNames } from './state.ts';

/**
 * Largest netlink batch sent through the element writer; larger ones go to nft. The kernel takes
 * one batch per `sendto`, up to the socket's send buffer (net.core.wmem_default, 208 KiB here).
 */
export const MAX_NETLINK_BATCH = 192 * 1024;
/**
 * Unused policy chains and sets left in the kernel before a transaction deletes them all: a few
 * percent of a large table (they cost nft's cache and the kernel's checks like any chain).
 */
export const MAX_ORPHANS = 400;

/** Sends a prebuilt nftables netlink batch (the `margay-netlink` helper's `nft` request). */
export interface NftElementWriter {
  /** @throws when the kernel refused the batch (nothing was applied) or the writer failed. */
  applyBatch(batch: Buffer): Promise<void>;
  /**
   * Streams the batches appended to a file into the kernel until the stream's end message,
   * stopping at the first refused (the helper's `nftstream`): a cold start's load ahead by
   * netlink (ahead-stream.ts). @throws when one was refused or the writer failed.
   */
  streamBatches?(path: string): Promise<void>;
}

/** What one attempt will send, decided before anything is sent. */
interface Plan {
  tx: NftTransaction;
  /** The scope the transaction covers (for the view's update). */
  scope: DiffScope;
  /** The netlink batch, when the transaction goes that way. */
  batch?: Buffer;
  /** A cold start's last transaction as netlink batches, the switch-on last (load-ahead.ts `switchOnBatches`). */
  batches?: Buffer[];
  /** Chains and sets left in the kernel as orphans by this transaction. */
  deferred?: { chains: string[]; sets: string[] };
  /** True when the transaction covers every orphan (they are gone after it). */
  coversOrphans: boolean;
}

function scopeWith(scope: DirtyNames, names: { chains: Iterable<string>; sets: Iterable<string> }): DirtyNames {
  return { chains: new Set([...scope.chains, ...names.chains]), sets: new Set([...scope.sets, ...names.sets]), maps: scope.maps };
}

/** The chains and sets of `scope` that the kernel has and the desired state no longer does. */
function doomedNames(view: KernelTable, desired: DesiredState, scope: DirtyNames): { chains: string[]; sets: string[] } {
  return {
    chains: [...scope.chains].filter((n) => !desired.chains.has(n) && view.chains.has(n)),
    sets: [...scope.sets].filter((n) => !desired.sets.has(n) && view.sets.has(n)),
  };
}

/** Resolves after one turn of the event loop (commands already issued reach their processes). */
export function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

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
  /** Sends transactions that have a netlink form as netlink batches (without it, everything goes to nft). */
  elementWriter?: NftElementWriter;
  /**
   * The last transaction of a cold start whose load ahead went in goes as netlink batches when it
   * can (default, unless `MARGAY_SWITCH_ON=nft`; false: through nft).
   */
  switchOnNetlink?: boolean;
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
  /** How the transaction went to the kernel (absent when none ran). */
  via?: 'netlink' | 'nft';
  stats?: NftTransaction['stats'];
  /** Set when the transaction failed (nothing was applied). */
  error?: Error;
  /**
   * A cold start's load ahead this full apply completed (see {@link NftablesDriver.loadAhead}):
   * its commands, and its error when it failed (the apply then compared everything with the kernel).
   */
  ahead?: { commands: number; error?: Error };
}

/** A load ahead in flight: settles with its error (undefined when it went in); `view` is the table after it. */
interface Ahead {
  done: Promise<Error | undefined>;
  view: KernelTable;
  commands: number;
  /** The netlink stream it goes as, which {@link NftablesDriver.continueAhead} extends (none through nft). */
  stream?: AheadStream;
  /** Why extending the stream failed: the stream was ended, and the apply reads the kernel instead of trusting `view`. */
  failed?: Error;
  /** True once `done` settled: the helper refused a batch (or the stream ended), so no more parts are worth writing. */
  settled?: boolean;
}

/** `done`'s error (undefined when it went in), once the file is gone. */
function settleAhead(done: Promise<unknown>, file: string): Promise<Error | undefined> {
  return done
    .then(
      () => undefined,
      (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
    )
    .then(async (err) => {
      await unlink(file).catch(() => undefined); // gone before the apply that waits for it goes on
      return err;
    });
}

/** Diffs and applies the desired nftables state. */
export class NftablesDriver {
  readonly table: TableRef;
  private readonly nft: string;
  private readonly timeoutMs: number;
  private readonly checkFirst: boolean;
  private readonly session: NftSession | undefined;
  private readonly elementWriter: NftElementWriter | undefined;
  private readonly switchOnNetlink: boolean;
  private view: KernelTable | undefined;
  /** A read of the table started by {@link prefetch}, for the next apply. */
  private prefetched: Promise<KernelTable> | undefined;
  /** Chains and sets in the kernel (and the view) that the desired state dropped; see the module comment. */
  private readonly orphans = { chains: new Set<string>(), sets: new Set<string>() };
  private lastText = '';
  /** Whether the kernel has the table, asked by {@link prefetch} for {@link loadAhead}. */
  private probe: Promise<boolean | undefined> | undefined;
  private ahead: Ahead | undefined;

  constructor(
    private readonly runner: CommandRunner,
    options: NftablesDriverOptions = {},
  ) {
    this.table = { family: 'inet', name: options.table ?? 'margay' };
    this.nft = options.nft ?? 'nft';
    this.timeoutMs = options.timeoutMs ?? 120_000;
    this.checkFirst = options.checkFirst ?? false;
    this.session = options.session;
    this.elementWriter = options.elementWriter;
    this.switchOnNetlink = options.switchOnNetlink ?? process.env.MARGAY_SWITCH_ON !== 'nft';
  }

  /** How many unused chains and sets wait in the kernel for the next nft transaction. */
  get orphanCount(): number {
    return this.orphans.chains.size + this.orphans.sets.size;
  }

  /** True once the driver holds a view of the kernel (false before the first full apply and after a failure). */
  get hasView(): boolean {
    return this.view !== undefined;
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
   * lists it while the caller renders the desired state; that apply uses the read. With
   * `probeFirst` and no view yet, first asks whether the table exists (for {@link loadAhead}), and
   * reads it only when it does (or the probe failed): a cold start's read was wasted work — a
   * shell, an `nft` process, and when it ran after the load ahead had made the table, a listing of
   * thousands of chains parsed on the agent's thread; a warm restart waits for the probe (one short
   * command) before its read. The apply takes an empty table when the probe found none. True when
   * a read (or the probe) started.
   */
  prefetch(options: { full?: boolean; probeFirst?: boolean } = {}): boolean {
    if (this.prefetched !== undefined || (options.full !== true && this.view !== undefined)) return false;
    if (options.probeFirst === true && this.view === undefined && this.ahead === undefined) {
      const args = ['-j', 'list', 'tables', this.table.family];
      const probe = this.runner(this.nft, args, { allowFail: true, timeoutMs: this.timeoutMs }).then(
        (res) => (res.code === 0 ? listsTable(res.stdout, this.table) : undefined),
        () => undefined,
      );
      this.probe = probe;
      this.prefetched = probe.then((exists) => (exists === false ? emptyKernelTable() : this.read()));
    } else this.prefetched = this.read();
    this.prefetched.catch(() => undefined); // the apply that takes it sees the error
    return true;
  }

  /**
   * Cold start: when the probe of {@link prefetch} found no table, starts loading everything
   * `desired` holds now but base chains (nothing a packet reaches) as a transaction of its own
   * that creates the table, and resolves once nft has it, not when it is done: the caller renders
   * the rest meanwhile, and the next full apply waits for it and loads the difference with the
   * base chains (load-ahead.ts). Does nothing (false) when the table exists, the probe failed, or
   * the load would have fewer than `minCommands` commands (by netlink: nothing that can go, or
   * fewer commands in the stream's first part).
   */
  async loadAhead(desired: DesiredState, options: { minCommands?: number } = {}): Promise<boolean> {
    const probe = this.probe;
    this.probe = undefined;
    if (probe === undefined || this.view !== undefined || this.ahead !== undefined || (await probe) !== false) return false;
    // Files an agent killed mid-load left behind (its next start comes here): swept meanwhile.
    void removeStaleAheadFiles();
    const writer = this.elementWriter;
    if (writer?.streamBatches) {
      // As netlink batches (no nft parse, no cache), which the helper sends while the caller renders.
      const file = aheadPath('nl');
      const stream = new AheadStream(file, this.table, { maxBytes: MAX_NETLINK_BATCH });
      let enough = false;
      try {
        // Every set and chain by name, as they stand (the stream leaves out base chains itself).
        stream.add(desired, { chains: desired.chains.keys(), sets: desired.sets.keys() });
        enough = stream.commands > 0 && stream.commands >= (options.minCommands ?? 0);
      } catch {
        // Nothing was handed to the helper yet: no load ahead, the apply loads everything at once.
      }
      if (!enough) {
        this.endStream(stream);
        await unlink(file).catch(() => undefined);
        return false;
      }
      const done = settleAhead(writer.streamBatches(file), file);
      const ahead: Ahead = { done, view: stream.view, commands: 0, stream };
      void done.then(() => (ahead.settled = true));
      this.ahead = ahead;
      // One turn of the event loop hands the request to the helper before the caller renders on.
      await nextTurn();
      return true;
    }
    const scope = aheadScope(desired);
    const tx = computeTransaction(emptyKernelTable(), desired, scope, this.table);
    if (tx.lines.length < (options.minCommands ?? 0)) return false;
    // The view as of this text: the desired state changes while the load runs.
    const view = emptyKernelTable();
    applyToView(view, desired, scope, false);
    const file = aheadPath('nft');
    writeFileSync(file, aheadText(tx, this.table), { mode: 0o600, flag: 'wx' });
    this.ahead = { done: settleAhead(this.runner(this.nft, ['-f', file], { timeoutMs: this.timeoutMs }), file), view, commands: tx.lines.length };
    // One turn of the event loop hands the command to the shell before the caller renders on.
    await nextTurn();
    return true;
  }

  /**
   * Extends a load ahead that goes as a netlink stream with sets and regular chains rendered
   * since: `names`, or with `end`, everything not sent yet, after which the stream ends (what
   * cannot go that way waits for the full apply, with maps and base chains). The helper sends
   * the batches as they are written, and none after one was refused. False without such a stream.
   */
  continueAhead(desired: DesiredState, options: { names?: { chains: Iterable<string>; sets: Iterable<string> }; end?: boolean } = {}): boolean {
    const ahead = this.ahead;
    const stream = ahead?.stream;
    if (!ahead || !stream || stream.ended) return false;
    if (ahead.settled) {
      // The helper refused a batch: it takes no more, and the apply reads the kernel anyway.
      this.endStream(stream);
      return false;
    }
    try {
      if (options.names) stream.add(desired, options.names);
      if (options.end) {
        const view = stream.view;
        const chains = [...desired.chains.keys()].filter((n) => !view.chains.has(n));
        const sets = [...desired.sets.keys()].filter((n) => !view.sets.has(n));
        stream.add(desired, { chains, sets });
      }
    } catch (err) {
      // A part may have gone in half: the view no longer says what the kernel holds. The stream
      // ends (the helper stops waiting for more), and the apply reads the kernel and repairs.
      ahead.failed = err instanceof Error ? err : new Error(String(err));
      this.endStream(stream);
      return false;
    }
    if (options.end) this.endStream(stream);
    return true;
  }

  /** Ends a load ahead's stream; a failure to write its end leaves the helper to its own timeout. */
  private endStream(stream: AheadStream): void {
    try {
      stream.end();
    } catch {
      // The file is closed either way; the helper gives up on a stream that stops growing.
    }
  }

  /** Waits for a load ahead; its view when it went in, else the error (the kernel must be read). */
  private async takeAhead(): Promise<{ view?: KernelTable; outcome: NonNullable<NftApplyOutcome['ahead']> } | undefined> {
    const ahead = this.ahead;
    this.ahead = undefined;
    if (ahead === undefined) return undefined;
    if (ahead.stream) this.endStream(ahead.stream); // the helper answers once the stream ends
    const error = (await ahead.done) ?? ahead.failed;
    if (ahead.stream) ahead.commands = ahead.stream.commands;
    return error ? { outcome: { commands: ahead.commands, error } } : { view: ahead.view, outcome: { commands: ahead.commands } };
  }

  /** Sets the view and forgets the orphans (a full read shows them as extra objects to delete). */
  private setView(view: KernelTable | undefined): void {
    this.view = view;
    this.orphans.chains.clear();
    this.orphans.sets.clear();
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
   * view yet); with `tidy`, deletes the orphans too and keeps none. Never throws for a rejected
   * transaction: the outcome carries the error.
   */
  async apply(desired: DesiredState, dirty: DirtyNames, options: { full?: boolean; tidy?: boolean } = {}): Promise<NftApplyOutcome> {
    const full = options.full === true || this.view === undefined;
    const prefetched = this.prefetched;
    this.prefetched = undefined;
    const noop = { commands: 0, applied: false, rebuild: false };
    const tidy = options.tidy === true;
    if (tidy && !full && this.orphanCount > 0) dirty = scopeWith(dirty, this.orphans);
    if (!full && isDirtyEmpty(dirty)) return { ...noop, fullSync: false, retried: false };
    const ahead = await this.takeAhead();
    const aheadOutcome = ahead ? { ahead: ahead.outcome } : {};
    if (full) {
      try {
        // After a load ahead that went in, the kernel holds what it loaded and nothing else; after
        // one that failed, a read started before it may be stale.
        this.setView(ahead ? (ahead.view ?? (await this.read())) : await (prefetched ?? this.read()));
      } catch (err) {
        this.setView(undefined);
        return { ...noop, fullSync: true, retried: false, error: err as Error, ...aheadOutcome };
      }
    }
    const first = await this.attempt(desired, full ? 'all' : dirty, tidy, ahead?.view !== undefined);
    if (!first.error) return { ...first, fullSync: full, retried: false, ...aheadOutcome };
    if (full) {
      this.setView(undefined);
      return { ...first, fullSync: true, retried: false, ...aheadOutcome };
    }
    // The view may have been stale (someone changed the table): read it, compare everything, retry.
    try {
      this.setView(await this.read());
    } catch (err) {
      this.setView(undefined);
      return { ...first, fullSync: true, retried: true, error: err as Error };
    }
    const second = await this.attempt(desired, 'all', tidy);
    if (second.error) this.setView(undefined);
    return { ...second, fullSync: true, retried: true };
  }

  /** Chooses how to send the difference for `scope`: netlink (possibly deferring deletions) or nft. */
  private plan(view: KernelTable, desired: DesiredState, scope: DiffScope, tidy: boolean, afterAhead: boolean): Plan {
    if (afterAhead && scope === 'all' && this.elementWriter && this.switchOnNetlink) {
      // What a load ahead left: the rest, inert first, the base chains in one last batch.
      const tx = computeTransaction(view, desired, scope, this.table, { ops: true });
      const batches = tx.ops && !tx.rebuild ? switchOnBatches(this.table.name, tx.ops, MAX_NETLINK_BATCH) : undefined;
      return { tx, scope, ...(batches ? { batches } : {}), coversOrphans: true };
    }
    if (!this.elementWriter || scope === 'all' || tidy) return { tx: computeTransaction(view, desired, scope, this.table), scope, coversOrphans: true };
    // The policy objects this change drops wait in the kernel while there is room for them.
    const doomed = doomedNames(view, desired, scope);
    const deferred = { chains: doomed.chains.filter((n) => isPolicyObject('chain', n)), sets: doomed.sets.filter((n) => isPolicyObject('set', n)) };
    if (this.orphanCount + deferred.chains.length + deferred.sets.length <= MAX_ORPHANS) {
      const waiting = new Set([...deferred.chains, ...deferred.sets]);
      const reduced: DirtyNames = {
        chains: new Set([...scope.chains].filter((n) => !waiting.has(n))),
        sets: new Set([...scope.sets].filter((n) => !waiting.has(n))),
        maps: scope.maps,
      };
      const tx = computeTransaction(view, desired, reduced, this.table, { ops: true });
      const batch = this.netlinkBatch(tx);
      return { tx, scope: reduced, ...(batch ? { batch } : {}), deferred, coversOrphans: false };
    }
    // No room: this transaction goes through nft and deletes every orphan with what it drops.
    const wide = scopeWith(scope, this.orphans);
    return { tx: computeTransaction(view, desired, wide, this.table), scope: wide, coversOrphans: true };
  }

  private netlinkBatch(tx: NftTransaction): Buffer | undefined {
    if (!tx.ops) return undefined;
    return encodeTransactionBatch(this.table.name, tx.ops, MAX_NETLINK_BATCH);
  }

  private async attempt(desired: DesiredState, scope: DiffScope, tidy: boolean, afterAhead = false): Promise<Omit<NftApplyOutcome, 'fullSync' | 'retried'>> {
    const view = this.view ?? emptyKernelTable();
    const plan = this.plan(view, desired, scope, tidy, afterAhead);
    const { tx } = plan;
    const done = (): void => {
      applyToView(view, desired, plan.scope, tx.rebuild);
      this.view = view;
      if (plan.coversOrphans) {
        this.orphans.chains.clear();
        this.orphans.sets.clear();
      }
      for (const n of plan.deferred?.chains ?? []) this.orphans.chains.add(n);
      for (const n of plan.deferred?.sets ?? []) this.orphans.sets.add(n);
    };
    if (tx.lines.length === 0) {
      // The kernel holds what is desired: the view takes the desired sets rather than keep its
      // own parsed copy of every element after a resync (memory, issue 14).
      done();
      return { commands: 0, applied: false, rebuild: false, stats: tx.stats };
    }
    const text = tx.lines.join('\n') + '\n';
    this.lastText = text;
    const via = plan.batch || plan.batches ? 'netlink' : 'nft';
    try {
      if (plan.batch) await this.elementWriter!.applyBatch(plan.batch);
      else if (plan.batches) for (const b of plan.batches) await this.elementWriter!.applyBatch(b);
      else {
        if (this.checkFirst) await this.runner(this.nft, ['-c', '-f', '-'], { input: text, timeoutMs: this.timeoutMs });
        if (this.session?.accepts(text)) await this.session.apply(text, this.timeoutMs);
        else await this.runner(this.nft, ['-f', '-'], { input: text, timeoutMs: this.timeoutMs });
      }
    } catch (err) {
      return { commands: tx.lines.length, applied: false, rebuild: tx.rebuild, via, stats: tx.stats, error: err as Error };
    }
    done();
    return { commands: tx.lines.length, applied: true, rebuild: tx.rebuild, via, stats: tx.stats };
  }
}
