/**
 * `nft list table` text as tests compare it: without the policy chains and sets nothing refers to.
 * The agent keeps those for a while after a change drops them (src/dataplane/nftables/driver.ts,
 * deferred deletions) and a restarted agent deletes them at once, so two listings of the same
 * effective ruleset may differ by them.
 */
import { isPolicyObject } from '../../src/dataplane/nftables/names.ts';
import type { TestNetns } from './netns.ts';

interface Block {
  kind: 'chain' | 'set';
  name: string;
  text: string;
}

/** Splits a table listing into its top-level blocks (tab-indented `chain X {` / `set X {` … `}`). */
function blocks(listing: string): { head: string; blocks: Block[]; tail: string } {
  const lines = listing.split('\n');
  const out: Block[] = [];
  let head = '';
  let tail = '';
  let current: Block | undefined;
  for (const line of lines) {
    const start = /^\t(chain|set|map) (\S+) \{$/.exec(line);
    if (start) {
      current = { kind: start[1] === 'chain' ? 'chain' : 'set', name: start[2]!, text: `${line}\n` };
      if (start[1] === 'map') current.name = `map ${start[2]}`; // never a policy object
      continue;
    }
    if (current) {
      current.text += `${line}\n`;
      if (line === '\t}') {
        out.push(current);
        current = undefined;
      }
      continue;
    }
    if (out.length === 0) head += `${line}\n`;
    else tail += `${line}\n`;
  }
  return { head, blocks: out, tail };
}

/** The listing without the policy chains and sets that nothing (left) in it refers to, nor blank lines. */
export function withoutUnusedPolicyObjects(listing: string): string {
  const parsed = blocks(listing);
  let kept = parsed.blocks;
  for (;;) {
    const referenced = (b: Block): boolean => {
      const pattern = b.kind === 'chain' ? new RegExp(`(?:goto|jump) ${escape(b.name)}(?![\\w./-])`) : new RegExp(`@${escape(b.name)}(?![\\w./-])`);
      return kept.some((other) => other !== b && pattern.test(other.text));
    };
    const next = kept.filter((b) => !isPolicyObject(b.kind, b.name) || referenced(b));
    if (next.length === kept.length) break;
    kept = next;
  }
  // Blank lines separate blocks: without them, the listing reads the same whatever was dropped.
  const text = parsed.head + kept.map((b) => b.text).join('') + parsed.tail;
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .join('\n');
}

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The table as JSON, without handles, objects by kind and name (a listing follows the order of
 * creation, which a load ahead changes), rules in order within their chain, sorted elements, no
 * counter values: equal for equal rulesets.
 */
export async function normalizedRuleset(ns: Pick<TestNetns, 'exec'>): Promise<string> {
  const out = await ns.exec('nft', ['-j', 'list', 'table', 'inet', 'margay']);
  const items = (JSON.parse(out.stdout).nftables as Array<Record<string, Record<string, unknown>>>).filter((o) => !o.metainfo);
  const key = (o: Record<string, Record<string, unknown>>, i: number): string => {
    const [kind] = Object.keys(o) as [string];
    const body = o[kind]!;
    return kind === 'rule' ? `rule ${String(body.chain)} ${String(i).padStart(6, '0')}` : `${kind} ${String(body.name)}`;
  };
  const sorted = items.map((o, i) => ({ o, k: key(o, i) })).sort((a, b) => (a.k < b.k ? -1 : a.k > b.k ? 1 : 0)).map((x) => x.o);
  const clean = (k: string, v: unknown): unknown =>
    k === 'handle' ? undefined : k === 'counter' && typeof v === 'object' ? { packets: '-', bytes: '-' } : k === 'elem' && Array.isArray(v) ? [...v].sort((a, b) => (JSON.stringify(a) < JSON.stringify(b) ? -1 : 1)) : v;
  return JSON.stringify(sorted, clean, 1);
}
