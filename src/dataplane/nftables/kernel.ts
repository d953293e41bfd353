/**
 * Reads table `inet margay` back from the kernel: parses `nft -j list table inet margay` into
 * chains (attachment, rule handles and fingerprints), named sets (canonical elements) and verdict
 * maps, in the same terms as the desired state so the two can be diffed.
 */
import { canonicalCidr, canonicalIp } from '../../net/mod.ts';
import { elementText, hashFromComment, type BaseChainSpec } from './state.ts';

/**
 * A rule as read back: its handle and, when Margay wrote it, its fingerprint. A view a
 * transaction left holds the desired state's own rules (state.ts `RenderedRule`: a fingerprint,
 * no handle), shared rather than copied.
 */
export interface KernelRule {
  readonly handle?: number;
  readonly hash: string | null;
  readonly comment?: string;
}

/** A chain as read back. */
export interface KernelChain {
  name: string;
  handle: number;
  base?: BaseChainSpec;
  /** Never changed once in a chain (a view may share it with the desired state). */
  rules: readonly KernelRule[];
}

/**
 * A named set as read back, or as a transaction left it: its canonical elements. After a
 * transaction the view holds the desired state's own set of elements (never changed once given,
 * so shared rather than copied: one copy of every member, issue 14).
 */
export interface KernelSet {
  name: string;
  type: string;
  flags: string[];
  elements: ReadonlySet<string>;
  /** The text that deletes an element, where it is not its {@link elementText} (a range read back). */
  deleteTexts?: ReadonlyMap<string, string>;
}

/** The text that deletes an element of `set`. */
export function deleteTextOf(set: KernelSet): (element: string) => string {
  const text = elementText(set);
  const special = set.deleteTexts;
  return special === undefined ? text : (e) => special.get(e) ?? text(e);
}

/** A verdict map as read back: key → verdict text (`goto fwp_…`). */
export interface KernelMap {
  name: string;
  keyType: string;
  valueType: string;
  elements: Map<string, string>;
}

/** The table as read back (empty with `exists: false` when there is no table). */
export interface KernelTable {
  exists: boolean;
  chains: Map<string, KernelChain>;
  sets: Map<string, KernelSet>;
  maps: Map<string, KernelMap>;
  /** Objects of other kinds found in the table (counters, flowtables, …), left alone. */
  otherObjects: number;
}

/** A table that does not exist. */
export function emptyKernelTable(): KernelTable {
  return { exists: false, chains: new Map(), sets: new Map(), maps: new Map(), otherObjects: 0 };
}

const PROTOCOL_NUMBERS: Record<string, number> = {
  icmp: 1,
  igmp: 2,
  tcp: 6,
  udp: 17,
  dccp: 33,
  'ipv6-icmp': 58,
  icmpv6: 58,
  sctp: 132,
  udplite: 136,
};

type Json = unknown;

function isObject(v: Json): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function unwrapElem(e: Json): Json {
  // Elements with attributes (timeout, counter, comment) come as {"elem": {"val": …}}.
  if (isObject(e) && isObject(e.elem) && 'val' in e.elem) return e.elem.val;
  return e;
}

function atomText(v: Json, partType: string): string {
  if (typeof v === 'number') return String(v);
  if (typeof v === 'string') {
    if (partType === 'ipv4_addr' || partType === 'ipv6_addr') return canonicalIp(v) ?? v;
    if (partType === 'inet_proto') return String(PROTOCOL_NUMBERS[v] ?? v);
    return v;
  }
  return JSON.stringify(v);
}

/**
 * One part of a concatenated element: interface names quoted (as they are written), addresses in
 * an interval set as CIDRs (`"cali1" . 10.0.0.5/32`), elsewhere as addresses.
 */
function concatPartText(v: Json, partType: string, interval: boolean): string {
  if (partType === 'ifname' && typeof v === 'string') return JSON.stringify(v);
  const isAddr = partType === 'ipv4_addr' || partType === 'ipv6_addr';
  if (isAddr && isObject(v) && isObject(v.prefix)) {
    const text = `${String(v.prefix.addr)}/${String(v.prefix.len)}`;
    return canonicalCidr(text) ?? text;
  }
  if (isAddr && interval && typeof v === 'string') return canonicalCidr(v) ?? v;
  return atomText(v, partType);
}

/**
 * The canonical key and the deleting text of one set element. Addresses in an interval set are
 * keyed as CIDRs (`10.0.0.5/32`), in a plain set as addresses (`10.0.0.5`).
 */
export function canonicalElement(raw: Json, type: string, interval = true): { key: string; text: string } {
  const e = unwrapElem(raw);
  const parts = type.split(' . ').map((t) => t.trim());
  const isAddr = parts.length === 1 && (parts[0] === 'ipv4_addr' || parts[0] === 'ipv6_addr');
  if (isObject(e)) {
    if (isObject(e.prefix)) {
      const addr = String(e.prefix.addr);
      const text = `${addr}/${String(e.prefix.len)}`;
      const key = canonicalCidr(text) ?? text;
      return { key, text: key };
    }
    if (Array.isArray(e.range) && e.range.length === 2) {
      const a = atomText(e.range[0], parts[0] ?? '');
      const b = atomText(e.range[1], parts[0] ?? '');
      return { key: `range ${a}-${b}`, text: `${a}-${b}` };
    }
    if (Array.isArray(e.concat)) {
      const text = e.concat.map((p, i) => concatPartText(unwrapElem(p), parts[i] ?? '', interval)).join(' . ');
      return { key: text, text };
    }
  }
  if (isAddr && typeof e === 'string') {
    // A plain set's addresses are keyed as host CIDRs, as the desired state keeps them (state.ts).
    if (!interval) return { key: canonicalCidr(e) ?? e, text: canonicalIp(e) ?? e };
    const key = canonicalCidr(e) ?? e;
    return { key, text: key };
  }
  const text = atomText(e, parts[0] ?? '');
  return { key: text, text };
}

/** The text of a verdict as it appears in a map element. */
export function verdictText(v: Json): string {
  if (isObject(v)) {
    for (const kind of ['goto', 'jump'] as const) {
      const target = v[kind];
      if (isObject(target) && typeof target.target === 'string') return `${kind} ${target.target}`;
    }
    const keys = Object.keys(v);
    if (keys.length === 1) return keys[0] as string;
  }
  return JSON.stringify(v);
}

function typeText(t: Json): string {
  return Array.isArray(t) ? t.map(String).join(' . ') : String(t);
}

/** Parses the output of `nft -j list table <family> <name>` (or of `list ruleset`, filtered). */
export function parseNftListing(json: string, family = 'inet', table = 'margay'): KernelTable {
  const out = emptyKernelTable();
  const doc = JSON.parse(json) as Json;
  const items = isObject(doc) && Array.isArray(doc.nftables) ? doc.nftables : [];
  const rulesByChain = new Map<string, KernelRule[]>();
  for (const item of items) {
    if (!isObject(item)) continue;
    const [kind] = Object.keys(item);
    const obj = kind ? item[kind] : undefined;
    if (!kind || !isObject(obj) || kind === 'metainfo') continue;
    if (kind === 'table') {
      if (obj.family === family && obj.name === table) out.exists = true;
      continue;
    }
    if (obj.family !== family || obj.table !== table) continue;
    switch (kind) {
      case 'chain': {
        const name = String(obj.name);
        const chain: KernelChain = { name, handle: Number(obj.handle ?? 0), rules: [] };
        if (typeof obj.hook === 'string') {
          chain.base = {
            type: String(obj.type) as BaseChainSpec['type'],
            hook: obj.hook as BaseChainSpec['hook'],
            priority: Number(obj.prio ?? 0),
            policy: (obj.policy === 'drop' ? 'drop' : 'accept') as BaseChainSpec['policy'],
          };
        }
        out.chains.set(name, chain);
        break;
      }
      case 'rule': {
        const chain = String(obj.chain);
        const comment = typeof obj.comment === 'string' ? obj.comment : undefined;
        const handle = Number(obj.handle ?? 0);
        const r: KernelRule = comment !== undefined ? { handle, hash: hashFromComment(comment), comment } : { handle, hash: hashFromComment(comment) };
        let list = rulesByChain.get(chain);
        if (!list) rulesByChain.set(chain, (list = []));
        list.push(r);
        break;
      }
      case 'set': {
        const type = typeText(obj.type);
        const flags = Array.isArray(obj.flags) ? obj.flags.map(String) : [];
        const elements = new Set<string>();
        const deleteTexts = new Map<string, string>();
        const written = elementText({ type, flags });
        for (const e of Array.isArray(obj.elem) ? obj.elem : []) {
          const { key, text } = canonicalElement(e, type, flags.includes('interval'));
          elements.add(key);
          if (text !== written(key)) deleteTexts.set(key, text);
        }
        const set: KernelSet = { name: String(obj.name), type, flags, elements };
        if (deleteTexts.size > 0) set.deleteTexts = deleteTexts;
        out.sets.set(set.name, set);
        break;
      }
      case 'map': {
        const keyType = typeText(obj.type);
        const elements = new Map<string, string>();
        for (const e of Array.isArray(obj.elem) ? obj.elem : []) {
          if (!Array.isArray(e) || e.length !== 2) continue;
          elements.set(canonicalElement(e[0], keyType, false).key, verdictText(e[1]));
        }
        out.maps.set(String(obj.name), { name: String(obj.name), keyType, valueType: typeText(obj.map), elements });
        break;
      }
      default:
        out.otherObjects++;
    }
  }
  for (const [chain, rules] of rulesByChain) {
    const c = out.chains.get(chain);
    if (c) c.rules = rules;
  }
  return out;
}
