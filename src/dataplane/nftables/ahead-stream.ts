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
import { applyToView, computeTransaction, type TableRef } from './diff.ts';
import { emptyKernelTable, type KernelRule, type KernelTable } from './kernel.ts';
import { AttrTooLarge, BATCH_BEGIN, BATCH_END, message, NLMSG_DONE } from './netlink-attr.ts';
import { chainMessageLength, newTableMessage, TxOpEncoder, writeChainAt, type TxOp } from './netlink-batch.ts';
import { ruleBound, writeRuleEnd, writeRuleStart } from './netlink-rule.ts';
import { writeRuleCommentUserdata } from './rule-encode.ts';
import { forEachReference } from './rule-references.ts';
import { RULE_COMMENT_PREFIX, type DesiredState, type RenderedRule } from './state.ts';

/** Appends a load ahead's batches to a file the helper streams into the kernel. */
export class AheadStream {
  /** The table as the kernel will hold it once every batch written so far went in. */
  readonly view: KernelTable = emptyKernelTable();
  /** Commands (messages) written so far. */
  commands = 0;
  readonly #fd: number;
  readonly #table: TableRef;
  readonly #encoder: TxOpEncoder;
  /** The batch being written (messages in place: no buffer per message). */
  readonly #buf: Buffer;
  #pos = 0;
  #first = true;
  /** Sets and chains written (a chain whose rules stopped half-way included: it exists). */
  readonly #sentSets = new Set<string>();
  readonly #sentChains = new Set<string>();
  /** Sets netlink cannot write here: never sent. */
  readonly #refusedSets = new Set<string>();
  /** Chains waiting for what they refer to. */
  readonly #waiting = new Set<string>();
  #ended = false;

  /** Creates `file` (private, must not exist). */
  constructor(file: string, table: TableRef, options: { maxBytes: number }) {
    this.#fd = openSync(file, 'wx', 0o600);
    this.#table = table;
    this.#buf = Buffer.allocUnsafeSlow(options.maxBytes);
    this.#encoder = new TxOpEncoder(table.name);
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
    const chains = this.#ready(desired, names.chains);
    for (const name of chains) {
      this.#room(chainMessageLength(this.#table.name, name));
      this.#pos += writeChainAt(this.#buf, this.#pos, this.#table.name, name);
      this.commands++;
    }
    for (const name of chains) {
      this.#sentChains.add(name);
      // In the view as written: whole, or stopped half-way (a rule netlink cannot write), which the last transaction refills.
      this.view.chains.set(name, { name, handle: 0, rules: this.#writeRules(name, desired.chains.get(name)!.rules) });
    }
    this.#flush();
    applyToView(this.view, desired, { chains: new Set(), sets, maps: new Map() }, false);
    // The table exists once the first batch (which creates it) is written, not before.
    this.view.exists = !this.#first;
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

  /** Writes the sets that can go (creation and elements, from the diff's commands); returns them. */
  #sets(desired: DesiredState, names: Iterable<string>): Set<string> {
    const wanted = new Set<string>();
    for (const name of names) if (desired.sets.has(name) && !this.#sentSets.has(name) && !this.#refusedSets.has(name)) wanted.add(name);
    if (wanted.size === 0) return wanted;
    const tx = computeTransaction({ ...emptyKernelTable(), exists: true }, desired, { chains: new Set(), sets: wanted, maps: new Map() }, this.#table, { ops: true });
    const bySet = new Map<string, Buffer[]>();
    for (const op of tx.ops ?? []) {
      const name = op.kind === 'addSet' ? op.set : op.kind === 'elements' ? op.op.set : undefined;
      if (name === undefined || !wanted.has(name)) continue;
      const m = this.#encode(op);
      if (!m) {
        wanted.delete(name);
        this.#refusedSets.add(name);
        continue;
      }
      const list = bySet.get(name) ?? [];
      list.push(m);
      bySet.set(name, list);
    }
    for (const name of wanted) {
      for (const m of bySet.get(name) ?? []) this.#copy(m);
      this.#sentSets.add(name);
    }
    return wanted;
  }

  /** The chains that can go now, their references gone or going with them; the others wait. */
  #ready(desired: DesiredState, names: Iterable<string>): string[] {
    // Waiting chains as they are now: one may have been removed or rewritten since it first waited.
    const candidates = new Map<string, readonly RenderedRule[]>();
    for (const name of this.#waiting) {
      const spec = desired.chains.get(name);
      if (spec && !spec.base) candidates.set(name, spec.rules);
    }
    this.#waiting.clear();
    for (const name of names) {
      const spec = desired.chains.get(name);
      if (spec && !spec.base && !candidates.has(name) && !this.#sentChains.has(name)) candidates.set(name, spec.rules);
    }
    // Until nothing changes; a chain referring to a map or a refused set never goes (nft takes it).
    // The first set not sent decides (a map or a refused one: never); then any chain not going.
    let verdict: boolean | undefined;
    const onSet = (set: string): boolean => {
      if (desired.maps.has(set) || this.#refusedSets.has(set)) verdict = undefined;
      else if (!this.#sentSets.has(set)) verdict = false;
      else return true;
      return false;
    };
    let chainMissing = false;
    const onChain = (chain: string): boolean => {
      if (!candidates.has(chain) && !this.#sentChains.has(chain)) chainMissing = true;
      return true;
    };
    const going = (rules: readonly RenderedRule[]): boolean | undefined => {
      chainMissing = false;
      // Indexed: no iterator per chain (a cold start's first part holds ~10,000) in code not yet optimized.
      for (let i = 0; i < rules.length; i++) if (!forEachReference((rules[i] as RenderedRule).body, onSet, onChain)) return verdict;
      return !chainMissing;
    };
    // forEach: no [name, rules] pair per chain (a cold start's first part holds ~10,000); an entry
    // deleted meanwhile is not visited, as with for...of.
    const visit = (rules: readonly RenderedRule[], name: string): void => {
      const ok = going(rules);
      if (ok) return;
      if (ok === false) this.#waiting.add(name);
      candidates.delete(name);
      changed = true;
    };
    let changed = true;
    while (changed) {
      changed = false;
      candidates.forEach(visit);
    }
    return [...candidates.keys()];
  }

  /**
   * Writes a chain's rules in place (netlink-rule.ts `writeRuleStart`: no buffer, object or
   * comment string per rule); returns the view's rules: `rules` itself when all were written (the
   * view shares the desired state's list, which is never changed), else those up to the first
   * netlink cannot write.
   */
  #writeRules(chain: string, rules: readonly RenderedRule[]): readonly KernelRule[] {
    const table = this.#table.name;
    const expressions = this.#encoder.rules;
    const buf = this.#buf;
    for (let i = 0; i < rules.length; i++) {
      const r = rules[i] as RenderedRule;
      const head = expressions.head(r.body);
      if (!head) return rules.slice(0, i);
      const word = expressions.jumpWord;
      const target = expressions.jumpChain;
      const desc = r.desc;
      // The comment's length as ruleComment(r) would write it (state.ts).
      const commentLength = RULE_COMMENT_PREFIX.length + r.hash.length + (desc ? 1 + desc.length : 0);
      this.#room(ruleBound(table, chain, head, word === undefined ? '' : target, commentLength));
      try {
        const start = this.#pos;
        const p = writeRuleStart(buf, start, table, chain, head, word, target);
        const length = writeRuleEnd(buf, start, p, writeRuleCommentUserdata(buf, p + 4, r.hash, desc));
        if (length === 0) return rules.slice(0, i);
        this.#pos += length;
      } catch (err) {
        if (err instanceof AttrTooLarge) return rules.slice(0, i);
        throw err;
      }
      this.commands++;
    }
    return rules;
  }

  #encode(op: TxOp): Buffer | undefined {
    try {
      return this.#encoder.encode(op);
    } catch (err) {
      if (err instanceof AttrTooLarge) return undefined;
      throw err;
    }
  }

  /** Makes room for `bytes` more in the batch (and its end): writes the batch first when it would not fit. */
  #room(bytes: number): void {
    if (this.#pos > 0 && this.#pos + bytes + BATCH_END.length > this.#buf.length) this.#flush();
    if (this.#pos > 0) return;
    this.#pos = BATCH_BEGIN.copy(this.#buf, 0);
    if (this.#first) {
      // The first batch creates the table: refused, with nothing applied, when one exists.
      this.#first = false;
      this.#pos += newTableMessage(this.#table.name).copy(this.#buf, this.#pos);
    }
  }

  /** Copies one message into the batch. */
  #copy(m: Buffer): void {
    this.#room(m.length);
    this.#pos += m.copy(this.#buf, this.#pos);
    this.commands++;
  }

  /** Writes the batch to the file (when it holds anything). */
  #flush(): void {
    if (this.#pos === 0) return;
    this.#pos += BATCH_END.copy(this.#buf, this.#pos);
    for (let at = 0; at < this.#pos; ) at += writeSync(this.#fd, this.#buf, at, this.#pos - at);
    this.#pos = 0;
  }
}

