/**
 * Dispatch of a tier by protocol and destination port (pure), so that a packet walks only the
 * policies that could match it.
 *
 * A policy's **guard** in one direction is where its rules can match: the (protocol, destination
 * port) pairs its rules name, or `any` when one of its rules is not limited to a TCP/UDP/SCTP
 * protocol with numeric ports (no protocol, ICMP, named ports, …). Outside its guard a policy's
 * chain matches nothing, so skipping it changes nothing: the order of the policies that remain is
 * kept, and Allow, Deny, Pass and Log mean what they meant.
 *
 * A tier with enough policies becomes, in the policy-list chain:
 *
 * ```
 * clear pass (not before the first tier); jump <list>.<t>; return if accepted; end-of-tier drop
 * chain <list>.<t>:    meta l4proto vmap { 6 : goto <list>.<t>.p6, … }; goto <list>.<t>.o
 *                      (one protocol: meta l4proto 6 goto <list>.<t>.p6; goto <list>.<t>.o)
 * chain <list>.<t>.p6: th dport vmap { 80 : goto <list>.<t>.0, 8000-8100 : goto <list>.<t>.1, … }; goto <list>.<t>.o
 * chain <list>.<t>.k:  the tier's policies whose guard holds for that port class, in order
 * chain <list>.<t>.o:  the `any` policies, for every other packet
 * ```
 *
 * Each sequence chain enters its last policy with `goto` (that policy's return is the chain's:
 * a rule and a return fewer on the path of every packet it decides), and a single `any` policy
 * is the fall-through itself (`goto <its chain>`, no `.o` chain).
 *
 * The port space of each protocol is cut at the guards' boundaries; each elementary interval
 * gets the sequence of policies whose guard covers it, equal sequences share a chain, adjacent
 * intervals with the same sequence share a map element. When the sequences would hold many more
 * rules than the tier itself (many `any` policies between many port classes) the tier stays a
 * plain list of jumps.
 */
import type { CompiledRule, PortRange } from '../../calc/mod.ts';
import { ClearingMemo2 } from '../../memo/mod.ts';
import { hex } from './settings.ts';
import { rule, type ChainSpec, type RenderedRule } from './state.ts';

/** Where one direction of a policy can match: every packet, or these protocol → port ranges. */
export type Guard = 'any' | ReadonlyMap<number, readonly PortRange[]>;

/** Protocols dispatched by destination port. */
const PORT_PROTOCOLS: ReadonlySet<number> = new Set([6, 17, 132]);

/** Tiers with fewer policies in a direction are a plain list of jumps (cheap enough). */
export const MIN_DISPATCH_POLICIES = 4;

/** The sequences of a dispatched tier may hold at most this many times the tier's policies. */
const MAX_BLOWUP = 4;

const ALL_PORTS: PortRange = { first: 0, last: 65535 };

/**
 * The guards of one-rule policies, by the rule's destination ports (the rule compiler shares equal
 * port lists: a cold start's 5,000 policies name a few) and protocol; a rule without ports by
 * {@link ALL_PORTS_KEY}. Guards are only read, so policies share them (fewer objects kept).
 */
const ONE_RULE_GUARDS = new WeakMap<readonly PortRange[], Map<number, Guard>>();
const ALL_PORTS_KEY: readonly PortRange[] = Object.freeze([]);

/** The guard of a policy's rules in one direction (shared between equal one-rule policies: only read). */
export function policyGuard(rules: readonly CompiledRule[]): Guard {
  // The map made only once no rule says `any` (indexed: no iterator per call in cold code).
  for (let i = 0; i < rules.length; i++) {
    const m = (rules[i] as CompiledRule).match;
    const p = m.protocol;
    if (p === undefined || !PORT_PROTOCOLS.has(p) || (m.dst.namedPortIpSets?.length ?? 0) > 0) return 'any';
  }
  const m = rules.length === 1 ? (rules[0] as CompiledRule).match : undefined;
  // Only a frozen list is a key (the compiler's are): one changed later would leave a stale guard.
  const ports = m === undefined ? undefined : m.dst.ports && m.dst.ports.length > 0 ? m.dst.ports : ALL_PORTS_KEY;
  if (m === undefined || ports === undefined || !Object.isFrozen(ports)) return guardOf(rules);
  let byProtocol = ONE_RULE_GUARDS.get(ports);
  if (byProtocol === undefined) ONE_RULE_GUARDS.set(ports, (byProtocol = new Map()));
  let guard = byProtocol.get(m.protocol as number);
  if (guard === undefined) byProtocol.set(m.protocol as number, (guard = guardOf(rules)));
  return guard;
}

/** The guard of rules that each name a protocol with ports (numbers only). */
function guardOf(rules: readonly CompiledRule[]): Guard {
  const out = new Map<number, PortRange[]>();
  for (const r of rules) {
    const m = r.match;
    const p = m.protocol as number;
    const ports = m.dst.ports && m.dst.ports.length > 0 ? m.dst.ports : [ALL_PORTS];
    let list = out.get(p);
    if (!list) out.set(p, (list = []));
    for (const x of ports) list.push({ first: Math.min(x.first, x.last), last: Math.max(x.first, x.last) });
  }
  return out;
}

/** A canonical text of a guard (to tell whether it changed). */
export function guardKey(g: Guard): string {
  if (g === 'any') return 'any';
  return [...g.entries()]
    .sort(([a], [b]) => a - b)
    .map(([p, rs]) => `${p}:${[...rs].sort((a, b) => a.first - b.first || a.last - b.last).map((r) => `${r.first}-${r.last}`).join(',')}`)
    .join(';');
}

/** One policy of a tier: its key and chain in this direction. */
export interface TierPolicy {
  key: string;
  chain: string;
}

/** What one tier section needs. */
export interface TierDispatchInput {
  /** The tier's policies in this direction, in order, with the guard of each. */
  policies: readonly (TierPolicy & { guard: Guard })[];
  /** Names the section's chains: `<base>` dispatches, `<base>.<k>` and `<base>.o` hold sequences. */
  base: string;
  /** Tier name, for rule descriptions. */
  tier: string;
  marks: { accept: number; pass: number };
}

/** The dispatch chain and the sequence chains of a tier, or undefined when it stays a list of jumps. */
export function dispatchTier(input: TierDispatchInput): ChainSpec[] | undefined {
  const { policies } = input;
  const guards = policies.map((p) => p.guard);
  if (policies.length < MIN_DISPATCH_POLICIES || guards.every((g) => g === 'any')) return undefined;
  const any = guards.flatMap((g, i) => (g === 'any' ? [i] : []));
  const budget = MAX_BLOWUP * policies.length + 16;
  const sequences = new Map<string, number[]>(); // key → policy indices
  const elements: { proto: number; first: number; last: number; seq: string }[] = [];
  let total = any.length;
  for (const proto of [...PORT_PROTOCOLS]) {
    for (const cls of portClasses(guards, proto)) {
      const seq = mergeSorted(any, cls.active);
      const key = seq.join(',');
      if (seq.length === any.length) continue; // only the `any` policies: the fall-through handles it
      if (!sequences.has(key)) {
        sequences.set(key, seq);
        total += seq.length;
        if (total > budget) return undefined;
      }
      const prev = elements[elements.length - 1];
      if (prev && prev.proto === proto && prev.seq === key && prev.last + 1 === cls.first) prev.last = cls.last;
      else elements.push({ proto, first: cls.first, last: cls.last, seq: key });
    }
  }
  const names = new Map<string, string>();
  const out: ChainSpec[] = [];
  let k = 0;
  for (const [key, seq] of sequences) {
    const name = `${input.base}.${k++}`;
    names.set(key, name);
    out.push({ name, rules: sequenceRules(seq.map((i) => policies[i] as TierPolicy), input, true) });
  }
  // Every other packet: the `any` policies' chain, or the only one's own chain.
  const other = any.length === 1 ? (policies[any[0] as number] as TierPolicy).chain : `${input.base}.o`;
  const otherwise = any.length > 0 ? [rule(`goto ${other}`, `tier ${input.tier} other packets`)] : [];
  if (any.length > 1) out.push({ name: other, rules: sequenceRules(any.map((i) => policies[i] as TierPolicy), input, true) });
  // Two levels, protocol then port: a single-field interval map is a tree (a lookup in log n),
  // where a protocol·port concatenation would be a bitmap walk over all elements.
  const portChains: { proto: number; name: string }[] = [];
  for (const proto of PORT_PROTOCOLS) {
    const mine = elements.filter((e) => e.proto === proto);
    if (mine.length === 0) continue;
    const name = `${input.base}.p${proto}`;
    const items = mine.map((e) => `${e.first === e.last ? e.first : `${e.first}-${e.last}`} : goto ${names.get(e.seq)}`);
    out.push({ name, rules: [rule(`th dport vmap { ${items.join(', ')} }`, `tier ${input.tier} dispatch ${proto}`), ...otherwise] });
    portChains.push({ proto, name });
  }
  const dispatch = [...protocolDispatch(portChains, input.tier), ...otherwise];
  out.unshift({ name: input.base, rules: dispatch });
  return out;
}

/**
 * The rule that sends a packet to its protocol's port chain: a comparison when there is one
 * protocol (the usual case: every guard names TCP), which costs less than a map lookup.
 */
function protocolDispatch(portChains: readonly { proto: number; name: string }[], tier: string): RenderedRule[] {
  const [only] = portChains;
  if (only === undefined) return [];
  if (portChains.length === 1) return [rule(`meta l4proto ${only.proto} goto ${only.name}`, `tier ${tier} dispatch`)];
  return [rule(`meta l4proto vmap { ${portChains.map((c) => `${c.proto} : goto ${c.name}`).join(', ')} }`, `tier ${tier} dispatch`)];
}

/** What the rules of one policy in a tier's sequence share, whichever the direction. */
interface SequenceEntry {
  /** The jump's description, `tier <tier> <key>`. */
  desc: string;
  /** The `return if accepted` rule after the jump (its text names no chain). */
  allowed: RenderedRule;
}

/**
 * The parts of a policy's jump and return rules that both directions share, by tier and policy
 * key: a cold start's policy lists hold every policy in both directions, so its return rule (a
 * quarter of the lists' 20,000 rules) is made and fingerprinted once instead of twice, and its
 * jump's description made once. Checked against the return rule's body under the mark bits of
 * the call; shared, only read; bounded (cleared when full). Entries of deleted policies stay
 * until then (~0.5 KiB each): the bound covers a cold start's 5,000 policies and holds ~4 MiB at
 * most.
 */
const SEQUENCE_ENTRIES = new ClearingMemo2<string, string, SequenceEntry>(8_192);

function sequenceEntry(tier: string, key: string, allowed: string): SequenceEntry {
  let e = SEQUENCE_ENTRIES.get(tier, key);
  if (e === undefined || e.allowed.body !== allowed) {
    const desc = `tier ${tier} ${key}`;
    SEQUENCE_ENTRIES.set(tier, key, (e = { desc, allowed: rule(allowed, `${desc} allowed`) }));
  }
  return e;
}

/**
 * Jumps to each policy while pass is clear, returning as soon as one accepts. With `endsChain`
 * (the rules are a whole chain, whose end returns to the endpoint's chain), the last policy is
 * entered with `goto` instead: whatever it decides, the chain would have returned next.
 */
export function sequenceRules(policies: readonly TierPolicy[], input: Pick<TierDispatchInput, 'tier' | 'marks'>, endsChain = false): RenderedRule[] {
  const { accept, pass } = input.marks;
  const tier = input.tier;
  const out: RenderedRule[] = [];
  const passClear = `meta mark & ${hex(pass)} == 0x00000000 `;
  const allowed = `meta mark & ${hex(accept)} == ${hex(accept)} return`;
  // The policy entered with goto: the last one of a whole chain, none otherwise.
  const gotoAt = endsChain ? policies.length - 1 : -1;
  // Indexed: no closure and destructuring per policy in code not yet optimized.
  for (let i = 0; i < policies.length; i++) {
    const { key, chain } = policies[i] as TierPolicy;
    const e = sequenceEntry(tier, key, allowed);
    const verdict = i === gotoAt ? `goto ${chain}` : `jump ${chain}`;
    out.push(rule(i === 0 ? verdict : passClear + verdict, e.desc));
    if (i !== gotoAt) out.push(e.allowed);
  }
  return out;
}

/** The elementary port intervals of `proto` that some guard names, with the guarded policies covering each. */
function portClasses(guards: readonly Guard[], proto: number): { first: number; last: number; active: number[] }[] {
  const starts = new Map<number, number[]>();
  const ends = new Map<number, number[]>(); // port after the range → policies
  guards.forEach((g, i) => {
    if (g === 'any') return;
    for (const r of g.get(proto) ?? []) {
      push(starts, r.first, i);
      push(ends, r.last + 1, i);
    }
  });
  const points = [...new Set([...starts.keys(), ...ends.keys()])].sort((a, b) => a - b);
  const count = new Map<number, number>();
  const out: { first: number; last: number; active: number[] }[] = [];
  for (let j = 0; j < points.length; j++) {
    const at = points[j] as number;
    for (const i of ends.get(at) ?? []) {
      const n = (count.get(i) ?? 0) - 1;
      if (n > 0) count.set(i, n);
      else count.delete(i);
    }
    for (const i of starts.get(at) ?? []) count.set(i, (count.get(i) ?? 0) + 1);
    const next = points[j + 1];
    if (next === undefined || count.size === 0) continue;
    out.push({ first: at, last: next - 1, active: [...count.keys()].sort((a, b) => a - b) });
  }
  return out;
}

function push(m: Map<number, number[]>, k: number, v: number): void {
  const list = m.get(k);
  if (list) list.push(v);
  else m.set(k, [v]);
}

/** Merges two ascending lists of distinct indices. */
function mergeSorted(a: readonly number[], b: readonly number[]): number[] {
  const out: number[] = [];
  let i = 0;
  let j = 0;
  while (i < a.length || j < b.length) {
    if (j >= b.length || (i < a.length && (a[i] as number) < (b[j] as number))) out.push(a[i++] as number);
    else out.push(b[j++] as number);
  }
  return out;
}
