/**
 * A cold start's load ahead as a stream of nftables netlink batches (load-ahead.ts says what goes
 * ahead and why it is safe). The driver appends batches to a private file while the managers
 * render, with synchronous writes that need no turn of the event loop, and the resident
 * `margay-netlink` helper (its `nftstream` request) sends each batch to the kernel as soon as it
 * is complete: the kernel loads on the helper's core while the agent renders the rest, without
 * nft's parse and cache.
 *
 * What goes: sets and regular chains, encoded straight from the desired state (no text). The first
 * batch begins with `create table` (refused when a table exists: nothing of the stream is then
 * applied, and the helper refuses the rest). An object netlink cannot write here (an interval
 * set's elements, a rule with an anonymous `vmap { … }`) never goes, and a chain whose rules refer
 * to a set or chain that has not gone (a map, such an object, a chain not rendered yet) waits for
 * a later part; whatever still waits at the end comes with the last transaction, through nft,
 * with the maps and base chains. Nothing a packet can reach is loaded: only base chains hook the
 * table into the kernel.
 */
import { closeSync, openSync, writeSync } from 'node:fs';
import { applyToView, computeTransaction, type DiffScope, type TableRef } from './diff.ts';
import { emptyKernelTable, type KernelTable } from './kernel.ts';
import { AttrTooLarge, batch, message } from './netlink-attr.ts';
import { newTableMessage, TxOpEncoder, type TxOp } from './netlink-batch.ts';
import { ruleComment, type DesiredState, type RenderedRule } from './state.ts';

/** The sets and chains a rule refers to: `@set` (or map), `jump`/`goto` chain. */
const REFERENCE = /@([A-Za-z0-9_./-]+)|\b(?:jump|goto) ([A-Za-z][A-Za-z0-9_./-]*)/g;
/** NLMSG_DONE: the end of the stream for the helper. */
const NLMSG_DONE = 3;
const BEGIN_END_BYTES = 40;

/** One chain's messages and what its rules refer to. */
interface EncodedChain {
  create: Buffer;
  rules: Buffer[];
  /** Chains its rules jump or go to, sets (and maps) they look up. */
  chains: Set<string>;
  sets: Set<string>;
}

/** Appends a load ahead's batches to a file the helper streams into the kernel. */
export class AheadStream {
  /** The table as the kernel will hold it once every batch written so far went in. */
  readonly view: KernelTable = emptyKernelTable();
  /** Commands (messages) written so far. */
  commands = 0;
  readonly #fd: number;
  readonly #table: TableRef;
  readonly #maxBytes: number;
  readonly #encoder: TxOpEncoder;
  /** `set <name>` / `chain <name>` of everything written. */
  readonly #sent = new Set<string>();
  /** Objects netlink cannot write here: never sent. */
  readonly #refused = new Set<string>();
  /** Chains waiting for what they refer to, encoded. */
  readonly #waiting = new Map<string, EncodedChain>();
  #batch: Buffer[] = [];
  #batchBytes = BEGIN_END_BYTES;
  #ended = false;

  /** Creates `file` (private, must not exist). */
  constructor(file: string, table: TableRef, options: { maxBytes: number }) {
    this.#fd = openSync(file, 'wx', 0o600);
    this.#table = table;
    this.#maxBytes = options.maxBytes;
    this.#encoder = new TxOpEncoder(table.name);
    this.#batch = [newTableMessage(table.name)];
    this.#batchBytes += this.#batch[0]!.length;
  }

  /** True once {@link end} was called. */
  get ended(): boolean {
    return this.#ended;
  }

  /**
   * Encodes and appends the named sets and regular chains of `desired` (and the chains waiting
   * from earlier parts whose references have now gone); a part's batches are complete when this
   * returns, so the helper sends them while the caller goes on.
   */
  add(desired: DesiredState, names: { chains: Iterable<string>; sets: Iterable<string> }): void {
    if (this.#ended) throw new Error('the load ahead stream has ended');
    const sets = this.#sets(desired, names.sets);
    const chains = this.#chains(desired, names.chains, sets.going);
    for (const m of sets.messages) this.#push(m);
    for (const c of chains.values()) this.#push(c.create);
    for (const c of chains.values()) for (const r of c.rules) this.#push(r);
    this.#flush();
    const scope: Exclude<DiffScope, 'all'> = { chains: new Set(chains.keys()), sets: sets.going, maps: new Map() };
    for (const name of scope.sets) this.#sent.add(`set ${name}`);
    for (const name of scope.chains) this.#sent.add(`chain ${name}`);
    applyToView(this.view, desired, scope, false);
  }

  /** Ends the stream (the helper then answers); what still waits is left to the caller's next transaction. */
  end(): void {
    if (this.#ended) return;
    this.#ended = true;
    try {
      this.#flush();
      writeSync(this.#fd, message(NLMSG_DONE, 0, 0, 0, 0, []));
    } finally {
      closeSync(this.#fd);
    }
  }

  /** The sets that can go, with their messages (creation and elements, from the diff's commands). */
  #sets(desired: DesiredState, names: Iterable<string>): { going: Set<string>; messages: Buffer[] } {
    const wanted = new Set<string>();
    for (const name of names) if (desired.sets.has(name) && !this.#sent.has(`set ${name}`) && !this.#refused.has(`set ${name}`)) wanted.add(name);
    if (wanted.size === 0) return { going: wanted, messages: [] };
    const tx = computeTransaction({ ...emptyKernelTable(), exists: true }, desired, { chains: new Set(), sets: wanted, maps: new Map() }, this.#table);
    const bySet = new Map<string, Buffer[]>();
    for (const op of tx.ops ?? []) {
      const name = op.kind === 'addSet' ? op.set : op.kind === 'elements' ? op.op.set : undefined;
      if (name === undefined || !wanted.has(name)) continue;
      const m = this.#encode(op);
      if (!m) {
        wanted.delete(name);
        this.#refused.add(`set ${name}`);
        continue;
      }
      const list = bySet.get(name) ?? [];
      list.push(m);
      bySet.set(name, list);
    }
    return { going: wanted, messages: [...wanted].flatMap((n) => bySet.get(n) ?? []) };
  }

  /** The chains that can go now (their references gone or going), in order; the others wait. */
  #chains(desired: DesiredState, names: Iterable<string>, setsGoing: ReadonlySet<string>): Map<string, EncodedChain> {
    const candidates = new Map(this.#waiting);
    this.#waiting.clear();
    for (const name of names) {
      if (candidates.has(name) || this.#sent.has(`chain ${name}`) || this.#refused.has(`chain ${name}`)) continue;
      const spec = desired.chains.get(name);
      const chain = spec && !spec.base ? this.#encodeChain(name, spec.rules) : undefined;
      if (chain) candidates.set(name, chain);
      else if (spec) this.#refused.add(`chain ${name}`);
    }
    // A chain goes when everything it refers to has gone or goes with it (until nothing changes);
    // one that refers to what will never go (a map, a refused object) never does.
    const never = (c: EncodedChain): boolean => {
      for (const s of c.sets) if (desired.maps.has(s) || this.#refused.has(`set ${s}`)) return true;
      for (const ch of c.chains) if (this.#refused.has(`chain ${ch}`)) return true;
      return false;
    };
    const ready = (c: EncodedChain): boolean => {
      for (const s of c.sets) if (!setsGoing.has(s) && !this.#sent.has(`set ${s}`)) return false;
      for (const ch of c.chains) if (!candidates.has(ch) && !this.#sent.has(`chain ${ch}`)) return false;
      return true;
    };
    for (let changed = true; changed; ) {
      changed = false;
      for (const [name, c] of candidates) {
        if (never(c)) this.#refused.add(`chain ${name}`);
        else if (ready(c)) continue;
        else this.#waiting.set(name, c);
        candidates.delete(name);
        changed = true;
      }
    }
    return candidates;
  }

  /** A chain's messages and references, or undefined when some rule has no netlink form here. */
  #encodeChain(name: string, rules: readonly RenderedRule[]): EncodedChain | undefined {
    const create = this.#encode({ kind: 'addChain', chain: name });
    if (!create) return undefined;
    const out: EncodedChain = { create, rules: [], chains: new Set(), sets: new Set() };
    for (const r of rules) {
      const m = this.#encode({ kind: 'addRule', chain: name, body: r.body, comment: ruleComment(r) });
      if (!m) return undefined;
      out.rules.push(m);
      for (const ref of r.body.matchAll(REFERENCE)) {
        if (ref[1] !== undefined) out.sets.add(ref[1]);
        else out.chains.add(ref[2]!);
      }
    }
    return out;
  }

  #encode(op: TxOp): Buffer | undefined {
    try {
      return this.#encoder.encode(op);
    } catch (err) {
      if (err instanceof AttrTooLarge) return undefined;
      throw err;
    }
  }

  /** Adds one message to the current batch, writing the batch first when it would grow too large. */
  #push(m: Buffer): void {
    if (this.#batchBytes + m.length > this.#maxBytes && this.#batch.length > 0) this.#write();
    this.#batch.push(m);
    this.#batchBytes += m.length;
    this.commands++;
  }

  /** Writes the current batch (if it holds anything). */
  #flush(): void {
    if (this.#batch.length > 0) this.#write();
  }

  #write(): void {
    const bytes = batch(this.#batch);
    for (let at = 0; at < bytes.length; ) at += writeSync(this.#fd, bytes, at);
    this.#batch = [];
    this.#batchBytes = BEGIN_END_BYTES;
  }
}
