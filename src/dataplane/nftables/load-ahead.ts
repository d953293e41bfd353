/**
 * Loading ahead on a cold start: the pure half (what goes ahead, as which text). When the kernel
 * has no Margay table yet, the driver loads the objects the desired state holds once its IP sets
 * and policies are rendered — sets, policy chains: nothing a packet can reach, since only a base
 * chain (a hook) makes the table see traffic — in a transaction of their own, through `nft` on
 * the other core, while the agent renders the rest (endpoints, dispatch, base chains). The full
 * apply that follows diffs the rest against what went ahead and loads it in one transaction, with
 * the base chains: traffic sees no Margay table, then the whole final ruleset.
 *
 * Safety: the load ahead `create`s the table, which fails when a table exists (an agent restarted
 * over one, or anything that made it since the probe), and a failed load ahead makes the apply
 * read the kernel and compare everything, as without it. A process killed between the two leaves
 * a table without base chains (inert), which a restart compares and completes like any other.
 */
import { computeTransaction, type DiffScope, type NftTransaction, type TableRef } from './diff.ts';
import { emptyKernelTable } from './kernel.ts';
import { AttrTooLarge, batch } from './netlink-attr.ts';
import { newTableMessage, TxOpEncoder, type TxOp } from './netlink-batch.ts';
import type { DesiredState } from './state.ts';

/** The scope of a load ahead: every set, map and regular chain the desired state holds now. */
export function aheadScope(desired: DesiredState): Exclude<DiffScope, 'all'> {
  const chains = new Set<string>();
  for (const [name, spec] of desired.chains) if (!spec.base) chains.add(name);
  return { chains, sets: new Set(desired.sets.keys()), maps: new Map([...desired.maps.keys()].map((m) => [m, 'all' as const])) };
}

/**
 * The text of a load ahead computed against an empty table: its `add table` becomes `create
 * table`, so that the transaction fails (and changes nothing) when the table exists.
 */
export function aheadText(tx: NftTransaction, table: TableRef): string {
  const add = `add table ${table.family} ${table.name}`;
  if (tx.lines[0] !== add) throw new Error(`a load ahead starts with "${add}"`);
  return [`create table ${table.family} ${table.name}`, ...tx.lines.slice(1)].join('\n') + '\n';
}

/**
 * Whether `nft -j list tables <family>` lists the table: true or false, or undefined when the
 * output is not such a listing (then nothing goes ahead).
 */
export function listsTable(json: string, table: TableRef): boolean | undefined {
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return undefined;
  }
  const items = (doc as { nftables?: unknown })?.nftables;
  if (!Array.isArray(items)) return undefined;
  return items.some((i) => {
    const t = (i as { table?: { family?: unknown; name?: unknown } } | null)?.table;
    return t?.family === table.family && t?.name === table.name;
  });
}

/** A load ahead as netlink batches (see {@link aheadBatches}). */
export interface AheadBatches {
  /** The batches in order, each at most the size asked for; empty when nothing could go. */
  batches: Buffer[];
  /** What they load (a view of the kernel after them covers this scope). */
  scope: Exclude<DiffScope, 'all'>;
  commands: number;
}

const REFERENCE = /@([A-Za-z0-9_./-]+)|\b(?:jump|goto) ([A-Za-z][A-Za-z0-9_./-]*)/g;

/** The set or chain an op writes to (`undefined` for one without a netlink form: a map, a base chain). */
function objectOf(op: TxOp): string | undefined {
  switch (op.kind) {
    case 'elements':
      return `set ${op.op.set}`;
    case 'addSet':
    case 'deleteSet':
      return `set ${op.set}`;
    case 'addChain':
    case 'flushChain':
    case 'addRule':
    case 'deleteChain':
      return `chain ${op.chain}`;
    case 'other':
      return undefined;
  }
}

/**
 * The netlink form of a load ahead of `scope` (sets and regular chains, no maps) onto a table
 * that holds `loaded` already (nothing on a first load, which then creates the table:
 * `create` semantics, the first batch fails when a table exists and nothing is applied). An
 * object with a command netlink cannot write (an interval set's elements, a rule with an
 * anonymous set) stays out, and so does every chain whose rules refer to an object that is
 * neither loaded nor going: they come with the last transaction, through nft. Batches are split
 * at `maxBytes`; each commits on its own, and none holds anything a packet can reach.
 */
export function aheadBatches(desired: DesiredState, scope: Exclude<DiffScope, 'all'>, table: TableRef, options: { loaded?: ReadonlySet<string>; maxBytes: number }): AheadBatches {
  const loaded = options.loaded ?? new Set<string>();
  const tx = computeTransaction({ ...emptyKernelTable(), exists: true }, desired, { chains: scope.chains, sets: scope.sets, maps: new Map() }, table);
  const encoder = new TxOpEncoder(table.name);
  const messages: Array<{ object: string; message: Buffer }> = [];
  const refused = new Set<string>();
  const refs = new Map<string, Set<string>>();
  for (const op of tx.ops ?? []) {
    const object = objectOf(op);
    if (object === undefined) return { batches: [], scope: { chains: new Set(), sets: new Set(), maps: new Map() }, commands: 0 };
    if (refused.has(object)) continue;
    let message: Buffer | undefined;
    try {
      message = encoder.encode(op);
    } catch (err) {
      if (!(err instanceof AttrTooLarge)) throw err;
    }
    if (!message) refused.add(object);
    else messages.push({ object, message });
    if (op.kind === 'addRule') {
      const to = refs.get(object) ?? new Set<string>();
      for (const m of op.body.matchAll(REFERENCE)) to.add(m[1] !== undefined ? `set ${m[1]}` : `chain ${m[2]}`);
      refs.set(object, to);
    }
  }
  // A chain referring to what neither is loaded nor goes now stays out too (until nothing changes).
  const going = (o: string): boolean => !refused.has(o) && (loaded.has(o) || (o.startsWith('set ') ? scope.sets.has(o.slice(4)) : scope.chains.has(o.slice(6))));
  for (let changed = true; changed; ) {
    changed = false;
    for (const [object, to] of refs) {
      if (refused.has(object)) continue;
      for (const o of to) {
        if (loaded.has(o) || going(o)) continue;
        refused.add(object);
        changed = true;
        break;
      }
    }
  }
  const batches: Buffer[] = [];
  let current: Buffer[] = loaded.size === 0 ? [newTableMessage(table.name)] : [];
  let size = 40 + (current[0]?.length ?? 0);
  let commands = 0;
  for (const { object, message } of messages) {
    if (refused.has(object)) continue;
    if (size + message.length > options.maxBytes && current.length > 0) {
      batches.push(batch(current));
      current = [];
      size = 40;
    }
    current.push(message);
    size += message.length;
    commands++;
  }
  if (commands > 0) batches.push(batch(current));
  const sent: Exclude<DiffScope, 'all'> = { chains: new Set(), sets: new Set(), maps: new Map() };
  if (commands > 0) {
    for (const name of scope.chains) if (!refused.has(`chain ${name}`)) sent.chains.add(name);
    for (const name of scope.sets) if (!refused.has(`set ${name}`)) sent.sets.add(name);
  }
  return { batches, scope: sent, commands };
}
