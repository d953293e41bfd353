/**
 * Table contents in kernel terms: chains (with rules), named sets and verdict maps. The same
 * shapes describe what Margay wants (the desired state, kept incrementally by the manager) and
 * what the kernel has (read back from `nft -j list table`).
 *
 * Rules are compared by fingerprint, not by text: every rule Margay writes carries a comment
 * `mg:<16 hex>` (SHA-256 of the rule body and its description), because `nft list` prints rules in
 * its own normalised form (`meta l4proto 6 th dport 80` comes back as `tcp dport 80`). A rule
 * whose comment lacks a fingerprint (written by someone else) never matches, so its chain is
 * rewritten.
 */
import { shortHash } from './names.ts';

/** Hook attachment of a base chain. */
export interface BaseChainSpec {
  type: 'filter' | 'nat';
  hook: 'prerouting' | 'input' | 'forward' | 'output' | 'postrouting';
  /** Numeric priority (raw -300, mangle -150, filter 0, srcnat 100). */
  priority: number;
  policy: 'accept' | 'drop';
}

/** A rule as Margay writes it. */
export interface RenderedRule {
  /** The rule text after `add rule inet margay <chain>`, without the comment. */
  body: string;
  /** A short human description stored in the comment after the fingerprint. */
  desc?: string;
  /** Fingerprint of body and description. */
  hash: string;
}

/** A chain and its rules in order. */
export interface ChainSpec {
  name: string;
  base?: BaseChainSpec;
  rules: readonly RenderedRule[];
}

/**
 * A named set. `elements` are canonical element texts, which nft accepts as input, but for a
 * plain set of addresses (no `interval` flag), whose elements are host CIDRs (`10.0.0.1/32`: the
 * calculation graph's member strings themselves, shared) written without the prefix
 * ({@link elementText}).
 */
export interface SetSpec {
  name: string;
  /** `ipv4_addr`, `ipv6_addr . inet_proto . inet_service`, … */
  type: string;
  flags: readonly string[];
  /**
   * Never changed once given to {@link DesiredState.setSet} (a change gives a new set): the
   * driver's view of the kernel shares it after a transaction instead of copying it.
   */
  elements: ReadonlySet<string>;
}

/** A verdict map keyed on interface names: key → verdict text (`goto fwp_…`). */
export interface MapSpec {
  name: string;
  keyType: string;
  elements: Map<string, string>;
}

/** The type and flags of a set (desired or read back), which say how its elements are written. */
export interface SetShape {
  type: string;
  flags: readonly string[];
}

/**
 * How the elements of a set are written in nft input: a plain set of addresses keeps host CIDRs
 * and writes the address (nft takes a prefix only in an interval set); any other set writes its
 * elements as they are.
 */
export function elementText(set: SetShape): (element: string) => string {
  const plainAddresses = (set.type === 'ipv4_addr' || set.type === 'ipv6_addr') && !set.flags.includes('interval');
  if (!plainAddresses) return (e) => e;
  return (e) => {
    const slash = e.lastIndexOf('/');
    return slash < 0 ? e : e.slice(0, slash);
  };
}

/** The prefix of Margay's rule comments; the fingerprint follows. */
export const RULE_COMMENT_PREFIX = 'mg:';
const COMMENT_MAX = 120;

const DESC_UNSAFE = /["\\\r\n]/;
const DESC_UNSAFE_ALL = /["\\\r\n]/g;
const DESC_MAX = COMMENT_MAX - 20;

/** Builds a rule with its fingerprint. */
export function rule(body: string, desc?: string): RenderedRule {
  // Tested first: most descriptions need no change, and a cold start builds ~40,000 rules.
  const cleanDesc =
    desc === undefined ? undefined : DESC_UNSAFE.test(desc) ? desc.replace(DESC_UNSAFE_ALL, '').slice(0, DESC_MAX) : desc.length > DESC_MAX ? desc.slice(0, DESC_MAX) : desc;
  const hash = shortHash(cleanDesc === undefined ? body : `${body}\n${cleanDesc}`);
  return cleanDesc === undefined ? { body, hash } : { body, desc: cleanDesc, hash };
}

/** The comment text written with a rule. */
export function ruleComment(r: RenderedRule): string {
  return r.desc ? `${RULE_COMMENT_PREFIX}${r.hash} ${r.desc}` : `${RULE_COMMENT_PREFIX}${r.hash}`;
}

/** The fingerprint in a rule comment, or null when the comment is not one of ours. */
export function hashFromComment(comment: string | undefined): string | null {
  if (!comment) return null;
  const m = /^mg:([0-9a-f]{16})(?: |$)/.exec(comment);
  return m ? (m[1] as string) : null;
}

/** A canonical signature of a set's type and flags, to detect a set that must be recreated. */
export function setSignature(type: string, flags: readonly string[]): string {
  return `${type.replace(/\s+/g, ' ').trim()}|${[...flags].sort().join(',')}`;
}

/** A canonical signature of a base chain's attachment. */
export function baseSignature(base: BaseChainSpec | undefined): string {
  return base ? `${base.type}|${base.hook}|${base.priority}|${base.policy}` : 'regular';
}

/** Names (and map keys) changed since the last time they were taken. */
export interface DirtyNames {
  chains: Set<string>;
  sets: Set<string>;
  /** Map name → changed keys, or `all` when the map itself was added, removed or reset. */
  maps: Map<string, Set<string> | 'all'>;
}

/** An empty {@link DirtyNames}. */
export function emptyDirty(): DirtyNames {
  return { chains: new Set(), sets: new Set(), maps: new Map() };
}

/** True when nothing is dirty. */
export function isDirtyEmpty(d: DirtyNames): boolean {
  return d.chains.size === 0 && d.sets.size === 0 && d.maps.size === 0;
}

function sameRules(a: readonly RenderedRule[], b: readonly RenderedRule[]): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if ((a[i] as RenderedRule).hash !== (b[i] as RenderedRule).hash) return false;
  return true;
}

function sameElements(a: ReadonlySet<string>, b: ReadonlySet<string>): boolean {
  if (a === b) return true;
  if (a.size !== b.size) return false;
  for (const e of a) if (!b.has(e)) return false;
  return true;
}

/**
 * The desired contents of the table, changed object by object; every change that makes a
 * difference is recorded as dirty so the driver diffs only what changed.
 */
export class DesiredState {
  readonly chains = new Map<string, ChainSpec>();
  readonly sets = new Map<string, SetSpec>();
  readonly maps = new Map<string, MapSpec>();
  private dirty: DirtyNames = emptyDirty();

  /** Defines or replaces a chain; a no-op when rules and attachment are unchanged. */
  setChain(spec: ChainSpec): void {
    const old = this.chains.get(spec.name);
    if (old && baseSignature(old.base) === baseSignature(spec.base) && sameRules(old.rules, spec.rules)) return;
    this.chains.set(spec.name, spec);
    this.dirty.chains.add(spec.name);
  }

  deleteChain(name: string): void {
    if (this.chains.delete(name)) this.dirty.chains.add(name);
  }

  /** Defines or replaces a set; a no-op when type, flags and elements are unchanged. */
  setSet(spec: SetSpec): void {
    const old = this.sets.get(spec.name);
    if (old && setSignature(old.type, old.flags) === setSignature(spec.type, spec.flags) && sameElements(old.elements, spec.elements)) return;
    this.sets.set(spec.name, spec);
    this.dirty.sets.add(spec.name);
  }

  deleteSet(name: string): void {
    if (this.sets.delete(name)) this.dirty.sets.add(name);
  }

  /** Defines a verdict map (empty) unless it exists with the same key type. */
  defineMap(name: string, keyType: string): void {
    const old = this.maps.get(name);
    if (old && old.keyType === keyType) return;
    this.maps.set(name, { name, keyType, elements: new Map() });
    this.dirty.maps.set(name, 'all');
  }

  deleteMap(name: string): void {
    if (this.maps.delete(name)) this.dirty.maps.set(name, 'all');
  }

  /** Sets one map element (the map must be defined). */
  setMapElement(map: string, key: string, verdict: string): void {
    const m = this.maps.get(map);
    if (!m) throw new Error(`map ${map} is not defined`);
    if (m.elements.get(key) === verdict) return;
    m.elements.set(key, verdict);
    this.markMapKey(map, key);
  }

  deleteMapElement(map: string, key: string): void {
    const m = this.maps.get(map);
    if (!m || !m.elements.delete(key)) return;
    this.markMapKey(map, key);
  }

  private markMapKey(map: string, key: string): void {
    const cur = this.dirty.maps.get(map);
    if (cur === 'all') return;
    if (cur) cur.add(key);
    else this.dirty.maps.set(map, new Set([key]));
  }

  /** Returns what changed since the last call and starts a new record. */
  takeDirty(): DirtyNames {
    const d = this.dirty;
    this.dirty = emptyDirty();
    return d;
  }
}
