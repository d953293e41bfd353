/**
 * Loading ahead on a cold start: the pure half (what goes ahead, as which text). When the kernel
 * has no Margay table yet, the driver loads the objects the desired state holds once its IP sets
 * and policies are rendered — sets, policy chains: nothing a packet can reach, since only a base
 * chain (a hook) makes the table see traffic — in a transaction of their own, through `nft` on
 * the other core, while the agent renders the rest (endpoints, dispatch, base chains). The full
 * apply that follows diffs the rest against what went ahead and loads it in one transaction, with
 * the base chains: traffic sees no Margay table, then the whole final ruleset.
 *
 * With the `margay-netlink` helper it goes as netlink batches streamed while the agent renders
 * (ahead-stream.ts), followed by the policy-list chains as they are rendered.
 *
 * Safety: the load ahead `create`s the table, which fails when a table exists (an agent restarted
 * over one, or anything that made it since the probe), and a failed load ahead makes the apply
 * read the kernel and compare everything, as without it. A process killed between the two leaves
 * a table without base chains (inert), which a restart compares and completes like any other.
 */
import { type DiffScope, type NftTransaction, type TableRef } from './diff.ts';
import { AttrTooLarge, BatchSplitter } from './netlink-attr.ts';
import { TxOpEncoder, type TxOp } from './netlink-batch.ts';
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

/**
 * The last transaction of a cold start whose load ahead went in, as netlink batches (no nft
 * cache or parse): everything inert first — maps, their elements, dispatch chains, regular chains
 * refilled — in batches of at most `maxBytes`, then **one** batch that creates the base chains
 * with their rules (the switch-on: traffic sees no Margay table, then all of it) and deletes what
 * is no longer wanted. Undefined when some command has no netlink form or the switch-on does not
 * fit one batch: the caller uses nft for the whole transaction. A batch refused after earlier
 * ones went in leaves an inert table (no base chain), which the caller reads and repairs.
 */
export function switchOnBatches(table: string, ops: readonly TxOp[], maxBytes: number): Buffer[] | undefined {
  const base = new Set(ops.flatMap((op) => (op.kind === 'addBaseChain' ? [op.chain] : [])));
  const deleted = new Set(ops.flatMap((op) => (op.kind === 'deleteChain' ? [op.chain] : [])));
  if (base.size === 0) return undefined;
  const last = (op: TxOp): boolean =>
    op.kind === 'addBaseChain' ||
    op.kind === 'deleteChain' ||
    op.kind === 'deleteSet' ||
    ((op.kind === 'addRule' || op.kind === 'flushChain') && (base.has(op.chain) || deleted.has(op.chain)));
  const encoder = new TxOpEncoder(table);
  const batches = new BatchSplitter(maxBytes);
  try {
    for (const op of ops.filter((o) => !last(o))) {
      const m = encoder.encode(op);
      if (!m || !batches.add(m)) return undefined;
    }
    // The switch-on: one batch of its own, whole.
    batches.cut();
    const switchOn: Buffer[] = [];
    for (const op of ops.filter(last)) {
      const m = encoder.encode(op);
      if (!m) return undefined;
      switchOn.push(m);
    }
    if (!batches.add(Buffer.concat(switchOn))) return undefined;
    return batches.finish();
  } catch (err) {
    if (err instanceof AttrTooLarge) return undefined;
    throw err;
  }
}
