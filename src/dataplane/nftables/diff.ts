/**
 * Diffs the desired table against the kernel's and writes the difference as one nft text
 * transaction (pure). The kernel applies a `nft -f` batch atomically: packets see the old ruleset
 * or the new one, never a mix, and a batch that fails applies nothing.
 *
 * Granularity: set and map elements one by one; a chain whose fingerprints differ is flushed and
 * re-filled inside the same batch (so without a gap), and a chain that is already right is not
 * touched at all (its rule handles and counters survive). When an object exists with the wrong
 * type (a set of another type, a base chain on another hook) the table is rebuilt: deleted and
 * re-created within the batch.
 *
 * Command order inside a batch, so every reference is valid when it is made:
 *   create sets, maps, chains → set elements (deletes first) → chain contents →
 *   map elements (deletes first) → flush chains to delete → delete maps → delete chains → delete sets.
 */
import { deleteTextOf, type KernelChain, type KernelTable } from './kernel.ts';
import type { ElementOp, TxOp } from './netlink-batch.ts';
import { baseSignature, elementText, ruleComment, setSignature, type BaseChainSpec, type ChainSpec, type DesiredState, type DirtyNames } from './state.ts';

/** What to compare: everything, or only the dirty names. */
export type DiffScope = 'all' | DirtyNames;

/** Where the table lives. */
export interface TableRef {
  family: string;
  name: string;
}

/** One batch of nft commands. */
export interface NftTransaction {
  /** The commands, one per line (empty when nothing differs). */
  lines: string[];
  /** True when the table is deleted and re-created. */
  rebuild: boolean;
  /**
   * The same commands structured, in the same order, when asked for (`ops`) and the table exists
   * and is not rebuilt (see netlink-batch.ts); else undefined.
   */
  ops?: TxOp[];
  /** Counts by kind, for logs and metrics. */
  stats: {
    chainsCreated: number;
    chainsRewritten: number;
    chainsDeleted: number;
    rulesWritten: number;
    setsCreated: number;
    setsDeleted: number;
    elementsAdded: number;
    elementsDeleted: number;
    mapEntriesChanged: number;
  };
}

/** Elements per `add element`/`delete element` command. */
const CHUNK = 1000;
/**
 * Map elements per command: an element with a `goto` verdict takes ~80 bytes as a netlink
 * attribute, and one command's element list must fit 64 KiB to go by netlink.
 */
const MAP_CHUNK = 500;

function emptyStats(): NftTransaction['stats'] {
  return {
    chainsCreated: 0,
    chainsRewritten: 0,
    chainsDeleted: 0,
    rulesWritten: 0,
    setsCreated: 0,
    setsDeleted: 0,
    elementsAdded: 0,
    elementsDeleted: 0,
    mapEntriesChanged: 0,
  };
}

function baseChainText(b: BaseChainSpec): string {
  return `{ type ${b.type} hook ${b.hook} priority ${b.priority}; policy ${b.policy}; }`;
}

function sameChain(k: KernelChain, d: ChainSpec): boolean {
  // A view a transaction left shares the desired state's list (applyToView, ahead-stream.ts).
  if (k.rules === d.rules) return true;
  if (k.rules.length !== d.rules.length) return false;
  for (let i = 0; i < d.rules.length; i++) {
    if (k.rules[i]?.hash !== d.rules[i]?.hash) return false;
  }
  return true;
}

function chunked<T>(items: T[], emit: (part: T[]) => void, size = CHUNK): void {
  for (let i = 0; i < items.length; i += size) emit(items.slice(i, i + size));
}

function quoteKey(key: string): string {
  return `"${key.replace(/["\\]/g, '')}"`;
}

/**
 * The names in scope, each once, in no particular order (for what does not depend on it): the
 * dirty names themselves (not copied: a cold start's scope names every chain), or every name of
 * both tables (a new list).
 */
function namesInScope<T>(scope: DiffScope, pick: (d: DirtyNames) => Iterable<string>, desired: Map<string, T>, kernel: Map<string, unknown>): Iterable<string> {
  if (scope !== 'all') return pick(scope);
  const names = [...desired.keys()];
  for (const name of kernel.keys()) if (!desired.has(name)) names.push(name);
  return names;
}

/** The names in scope, sorted (a transaction's text is deterministic). */
function scopeNames<T>(scope: DiffScope, pick: (d: DirtyNames) => Iterable<string>, desired: Map<string, T>, kernel: Map<string, unknown>): string[] {
  return [...namesInScope(scope, pick, desired, kernel)].sort();
}

/** True when some object in scope exists in the kernel with a type that cannot be changed in place. */
function needsRebuild(kernel: KernelTable, desired: DesiredState, scope: DiffScope): boolean {
  if (!kernel.exists) return false;
  for (const name of namesInScope(scope, (d) => d.sets, desired.sets, kernel.sets)) {
    const d = desired.sets.get(name);
    const k = kernel.sets.get(name);
    if (d && k && setSignature(d.type, d.flags) !== setSignature(k.type, k.flags)) return true;
    if (d && kernel.maps.has(name)) return true;
  }
  for (const name of namesInScope(scope, (d) => d.maps.keys(), desired.maps, kernel.maps)) {
    const d = desired.maps.get(name);
    const k = kernel.maps.get(name);
    if (d && k && (d.keyType !== k.keyType || k.valueType !== 'verdict')) return true;
    if (d && kernel.sets.has(name)) return true;
  }
  for (const name of namesInScope(scope, (d) => d.chains, desired.chains, kernel.chains)) {
    const d = desired.chains.get(name);
    const k = kernel.chains.get(name);
    if (d && k && baseSignature(d.base) !== baseSignature(k.base)) return true;
  }
  return false;
}

/** What {@link computeTransaction} builds beside the text. */
export interface TransactionOptions {
  /**
   * The structured twin of the commands ({@link NftTransaction.ops}), for a transaction that may
   * go by netlink: only then is it worth building (an object per command, on large diffs).
   */
  ops?: boolean;
}

/**
 * Computes the batch that turns `kernel` into `desired` for the names in `scope`. Names out of
 * scope are assumed to be in sync already.
 */
export function computeTransaction(kernel: KernelTable, desired: DesiredState, scope: DiffScope, table: TableRef, options: TransactionOptions = {}): NftTransaction {
  if (needsRebuild(kernel, desired, scope)) {
    const fresh: KernelTable = { exists: false, chains: new Map(), sets: new Map(), maps: new Map(), otherObjects: 0 };
    const tx = computeTransaction(fresh, desired, 'all', table);
    return { ...tx, lines: [`delete table ${table.family} ${table.name}`, ...tx.lines], rebuild: true };
  }
  const T = `${table.family} ${table.name}`;
  const stats = emptyStats();
  const create: string[] = [];
  const elements: string[] = [];
  const contents: string[] = [];
  const mapElements: string[] = [];
  const flushDoomed: string[] = [];
  const deleteMaps: string[] = [];
  const deleteChains: string[] = [];
  const deleteSets: string[] = [];
  // The structured twin of each list of lines, in the same order (netlink-batch.ts): only for an
  // existing table (a new one goes to nft) and when asked for.
  const withOps = options.ops === true && kernel.exists;
  const ops = { create: [] as TxOp[], elements: [] as TxOp[], contents: [] as TxOp[], mapElements: [] as TxOp[] };
  const deleteOps = { maps: [] as TxOp[], chains: [] as TxOp[], sets: [] as TxOp[], flushes: [] as TxOp[] };

  // Sets and their elements.
  for (const name of scopeNames(scope, (d) => d.sets, desired.sets, kernel.sets)) {
    const d = desired.sets.get(name);
    const k = kernel.sets.get(name);
    if (!d) {
      if (k) {
        deleteSets.push(`delete set ${T} ${name}`);
        if (withOps) deleteOps.sets.push({ kind: 'deleteSet', set: name });
        stats.setsDeleted++;
      }
      continue;
    }
    if (!k) {
      const flags = d.flags.length > 0 ? ` flags ${d.flags.join(', ')};` : '';
      create.push(`add set ${T} ${name} { type ${d.type};${flags} }`);
      if (withOps) ops.create.push({ kind: 'addSet', set: name, keyType: d.type, flags: d.flags });
      stats.setsCreated++;
    }
    const del: string[] = [];
    if (k) {
      const text = deleteTextOf(k);
      for (const key of k.elements) if (!d.elements.has(key)) del.push(text(key));
    }
    const add: string[] = [];
    const text = elementText(d);
    for (const e of d.elements) if (!k?.elements.has(e)) add.push(text(e));
    // An interval set that exists: how many elements it holds (nft adds a zero end element to an empty one).
    const held = k && d.flags.includes('interval') ? { kernelElements: k.elements.size } : {};
    const op = (verb: ElementOp['verb'], texts: string[]): TxOp => ({ kind: 'elements', op: { verb, set: name, keyType: d.type, flags: d.flags, elements: texts.map((key) => ({ key })), ...held } });
    chunked(del, (part) => {
      elements.push(`delete element ${T} ${name} { ${part.join(', ')} }`);
      if (withOps) ops.elements.push(op('delete', part));
    });
    chunked(add, (part) => {
      elements.push(`add element ${T} ${name} { ${part.join(', ')} }`);
      if (withOps) ops.elements.push(op('add', part));
    });
    stats.elementsAdded += add.length;
    stats.elementsDeleted += del.length;
  }

  // Maps: creation now, elements after the chains they point to are filled.
  const mapDeletes: TxOp[] = [];
  const mapNames = scopeNames(scope, (d) => d.maps.keys(), desired.maps, kernel.maps);
  for (const name of mapNames) {
    const d = desired.maps.get(name);
    const k = kernel.maps.get(name);
    if (!d) {
      if (k) {
        deleteMaps.push(`delete map ${T} ${name}`);
        if (withOps) deleteOps.maps.push({ kind: 'deleteSet', set: name });
      }
      continue;
    }
    if (!k) {
      create.push(`add map ${T} ${name} { type ${d.keyType} : verdict; }`);
      if (withOps) ops.create.push({ kind: 'addMap', map: name, keyType: d.keyType });
    }
    const dirtyKeys = scope === 'all' || !k ? 'all' : scope.maps.get(name) ?? 'all';
    const keys = dirtyKeys === 'all' ? new Set([...d.elements.keys(), ...(k?.elements.keys() ?? [])]) : dirtyKeys;
    const del: string[] = [];
    const add: string[] = [];
    const delKeys: string[] = [];
    const addEntries: Array<{ key: string; verdict: string }> = [];
    for (const key of [...keys].sort()) {
      const want = d.elements.get(key);
      const have = k?.elements.get(key);
      if (want === have) continue;
      if (have !== undefined) {
        del.push(quoteKey(key));
        if (withOps) delKeys.push(key);
      }
      if (want !== undefined) {
        add.push(`${quoteKey(key)} : ${want}`);
        if (withOps) addEntries.push({ key, verdict: want });
      }
      stats.mapEntriesChanged++;
    }
    chunked(del, (part) => mapElements.push(`delete element ${T} ${name} { ${part.join(', ')} }`), MAP_CHUNK);
    chunked(add, (part) => mapElements.push(`add element ${T} ${name} { ${part.join(', ')} }`), MAP_CHUNK);
    if (!withOps) continue;
    const op = (verb: ElementOp['verb'], entries: ElementOp['elements']): TxOp => ({ kind: 'elements', op: { verb, set: name, keyType: d.keyType, flags: [], elements: entries } });
    chunked(delKeys, (part) => mapDeletes.push(op('delete', part.map((key) => ({ key })))), MAP_CHUNK);
    chunked(addEntries, (part) => ops.mapElements.push(op('add', part)), MAP_CHUNK);
  }
  // Deletes of map elements must come before adds of the same keys.
  mapElements.sort((a, b) => (a.startsWith('delete') === b.startsWith('delete') ? 0 : a.startsWith('delete') ? -1 : 1));
  ops.mapElements.unshift(...mapDeletes);

  // Chains: those that differ, sorted (a cold start's last transaction compares ~10,000 that went
  // ahead and writes a few dozen: no sort of every name).
  const chainNames: string[] = [];
  for (const name of namesInScope(scope, (d) => d.chains, desired.chains, kernel.chains)) {
    const d = desired.chains.get(name);
    const k = kernel.chains.get(name);
    if (d ? !(k && sameChain(k, d)) : k) chainNames.push(name);
  }
  for (const name of chainNames.sort()) {
    const d = desired.chains.get(name);
    const k = kernel.chains.get(name);
    if (!d) {
      if (k) {
        if (k.rules.length > 0) {
          flushDoomed.push(`flush chain ${T} ${name}`);
          if (withOps) deleteOps.flushes.push({ kind: 'flushChain', chain: name });
        }
        deleteChains.push(`delete chain ${T} ${name}`);
        if (withOps) deleteOps.chains.push({ kind: 'deleteChain', chain: name });
        stats.chainsDeleted++;
      }
      continue;
    }
    if (!k) {
      create.push(d.base ? `add chain ${T} ${name} ${baseChainText(d.base)}` : `add chain ${T} ${name}`);
      if (withOps) ops.create.push(d.base ? { kind: 'addBaseChain', chain: name, base: d.base } : { kind: 'addChain', chain: name });
      stats.chainsCreated++;
    } else {
      if (k.rules.length > 0) {
        contents.push(`flush chain ${T} ${name}`);
        if (withOps) ops.contents.push({ kind: 'flushChain', chain: name });
      }
      stats.chainsRewritten++;
    }
    for (const r of d.rules) {
      const comment = ruleComment(r);
      contents.push(`add rule ${T} ${name} ${r.body} comment "${comment}"`);
      if (withOps) ops.contents.push({ kind: 'addRule', chain: name, body: r.body, comment });
    }
    stats.rulesWritten += d.rules.length;
  }

  const body = [...create, ...elements, ...contents, ...mapElements, ...flushDoomed, ...deleteMaps, ...deleteChains, ...deleteSets];
  if (body.length === 0) return { lines: [], rebuild: false, stats };
  const lines = kernel.exists ? body : [`add table ${T}`, ...body];
  if (!withOps) return { lines, rebuild: false, stats };
  const txOps = [
    ...ops.create,
    ...ops.elements,
    ...ops.contents,
    ...ops.mapElements,
    ...deleteOps.flushes,
    ...deleteOps.maps,
    ...deleteOps.chains,
    ...deleteOps.sets,
  ];
  return { lines, rebuild: false, stats, ops: txOps };
}

/** Brings the cached kernel view up to date after `tx` (computed with the same arguments) succeeded. */
export function applyToView(kernel: KernelTable, desired: DesiredState, scope: DiffScope, rebuilt: boolean): void {
  if (rebuilt) {
    kernel.chains.clear();
    kernel.sets.clear();
    kernel.maps.clear();
    scope = 'all';
  }
  kernel.exists = true;
  for (const name of namesInScope(scope, (d) => d.sets, desired.sets, kernel.sets)) {
    const d = desired.sets.get(name);
    if (!d) kernel.sets.delete(name);
    else kernel.sets.set(name, { name, type: d.type, flags: [...d.flags], elements: d.elements });
  }
  for (const name of namesInScope(scope, (d) => d.maps.keys(), desired.maps, kernel.maps)) {
    const d = desired.maps.get(name);
    const k = kernel.maps.get(name);
    if (!d) {
      kernel.maps.delete(name);
      continue;
    }
    const keys = scope === 'all' || !k ? 'all' : scope.maps.get(name) ?? 'all';
    if (keys === 'all' || !k) {
      kernel.maps.set(name, { name, keyType: d.keyType, valueType: 'verdict', elements: new Map(d.elements) });
      continue;
    }
    for (const key of keys) {
      const want = d.elements.get(key);
      if (want === undefined) k.elements.delete(key);
      else k.elements.set(key, want);
    }
  }
  for (const name of namesInScope(scope, (d) => d.chains, desired.chains, kernel.chains)) {
    const d = desired.chains.get(name);
    if (!d) {
      kernel.chains.delete(name);
      continue;
    }
    const k = kernel.chains.get(name);
    if (k && sameChain(k, d)) continue;
    // The desired rules themselves (never changed): no copy of every rule in the view.
    const chain: KernelChain = { name, handle: k?.handle ?? 0, rules: d.rules };
    if (d.base) chain.base = { ...d.base };
    kernel.chains.set(name, chain);
  }
}

/** The whole desired table as one nft script (for `margay` debugging output and tests). */
export function renderTable(desired: DesiredState, table: TableRef): string {
  const empty: KernelTable = { exists: false, chains: new Map(), sets: new Map(), maps: new Map(), otherObjects: 0 };
  return computeTransaction(empty, desired, 'all', table).lines.join('\n') + '\n';
}
