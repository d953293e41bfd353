// Fuzz tests: random strings, random mutations of valid selectors, and random valid selectors.
// Parsing must either succeed or throw SelectorParseError (nothing else), canonical text must be
// stable under re-parsing, the compiled matcher must agree with the reference evaluator, and the
// label restrictions the index relies on must be sound.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { evaluate } from '../../src/selector/evaluate.ts';
import { parseSelector, SelectorParseError, type Selector } from '../../src/selector/mod.ts';
import { labelRestrictions } from '../../src/selector/restrictions.ts';
import { int, pick, prng, randomLabels, randomSelector, SMALL, TRICKY, type Rng } from './helpers.ts';

const FRAGMENTS = [
  'a', 'b', 'x', ' ', ' ', '\t', '=', '==', '!', '!=', '&', '&&', '|', '||', '(', ')', '{', '}', ',',
  '"', "'", '"v"', "'v'", 'in', 'not', 'not in', 'has(', 'has(a)', 'all()', 'global()', 'contains',
  'starts', 'with', 'ends', '%', '\n', '-', '.', '/', '😀', '\u0000',
];

const MUTATIONS = ['delete', 'insert', 'replace', 'duplicate', 'swap', 'truncate'] as const;

function mutate(rng: Rng, text: string): string {
  let s = text;
  for (let n = int(rng, 1, 3); n > 0; n--) {
    const i = int(rng, 0, s.length);
    switch (pick(rng, MUTATIONS)) {
      case 'delete':
        s = s.slice(0, i) + s.slice(i + int(rng, 1, 3));
        break;
      case 'insert':
        s = s.slice(0, i) + pick(rng, FRAGMENTS) + s.slice(i);
        break;
      case 'replace':
        s = s.slice(0, i) + pick(rng, FRAGMENTS) + s.slice(i + 1);
        break;
      case 'duplicate': {
        const j = int(rng, i, s.length);
        s = s.slice(0, j) + s.slice(i, j) + s.slice(j);
        break;
      }
      case 'swap': {
        const j = int(rng, 0, s.length - 1);
        if (i < s.length && j < s.length) {
          const chars = [...s];
          if (i < chars.length && j < chars.length) {
            [chars[i], chars[j]] = [chars[j] as string, chars[i] as string];
            s = chars.join('');
          }
        }
        break;
      }
      case 'truncate':
        s = s.slice(0, i);
        break;
    }
  }
  return s;
}

interface Stats {
  parsed: number;
  rejected: number;
}

/** Parses `text` and checks every invariant; returns the selector or undefined when rejected. */
function check(text: string, rng: Rng, stats: Stats): Selector | undefined {
  let sel: Selector;
  try {
    sel = parseSelector(text);
  } catch (e) {
    if (!(e instanceof SelectorParseError)) {
      assert.fail(`parse of ${JSON.stringify(text)} threw a non-SelectorParseError: ${String(e)}`);
    }
    assert.ok(e.position >= 0 && e.position <= text.length, `position ${e.position} out of range for ${JSON.stringify(text)}`);
    assert.equal(e.code, 'MARGAY_ERR_SELECTOR_PARSE');
    stats.rejected++;
    return undefined;
  }
  stats.parsed++;
  const canonical = sel.toString();
  const again = parseSelector(canonical);
  assert.equal(again.toString(), canonical, `canonical form of ${JSON.stringify(text)} is not stable`);
  assert.equal(again.id, sel.id);
  const restrictions = labelRestrictions(sel.ast);
  for (let k = 0; k < 6; k++) {
    const labels = randomLabels(rng, rng() < 0.5 ? SMALL : TRICKY);
    const want = evaluate(sel.ast, labels);
    assert.equal(sel.matches(labels), want, `compiled ${canonical} disagrees on ${JSON.stringify(labels)}`);
    assert.equal(again.matches(labels), want, `canonical ${canonical} disagrees on ${JSON.stringify(labels)}`);
    if (want) {
      assert.ok(!restrictions.never, `${canonical} matched but was judged unmatchable`);
      for (const [key, r] of restrictions.labels) {
        const has = Object.prototype.hasOwnProperty.call(labels, key);
        if (r.present) assert.ok(has, `${canonical}: ${key} must be present`);
        if (r.absent) assert.ok(!has, `${canonical}: ${key} must be absent`);
        if (r.values) assert.ok(r.values.has(labels[key] as string), `${canonical}: ${key} value`);
      }
    }
  }
  return sel;
}

describe('selector fuzz', () => {
  it('random strings: only SelectorParseError, stable canonical form (8,000 iterations)', () => {
    const rng = prng(0xc0ffee);
    const stats: Stats = { parsed: 0, rejected: 0 };
    for (let i = 0; i < 8000; i++) {
      const n = int(rng, 0, 25);
      let s = '';
      for (let j = 0; j < n; j++) s += pick(rng, FRAGMENTS);
      check(s, rng, stats);
    }
    assert.ok(stats.rejected > 1000 && stats.parsed > 50, JSON.stringify(stats));
  });

  it('mutated valid selectors (8,000 iterations)', () => {
    const rng = prng(1234);
    const stats: Stats = { parsed: 0, rejected: 0 };
    for (let i = 0; i < 8000; i++) {
      const base = randomSelector(rng, rng() < 0.5 ? SMALL : TRICKY);
      check(mutate(rng, base), rng, stats);
    }
    assert.ok(stats.rejected > 1000 && stats.parsed > 500, JSON.stringify(stats));
  });

  it('generated valid selectors always parse (4,000 iterations)', () => {
    const rng = prng(42);
    const stats: Stats = { parsed: 0, rejected: 0 };
    for (let i = 0; i < 4000; i++) {
      const text = randomSelector(rng, rng() < 0.5 ? SMALL : TRICKY, 4);
      const sel = check(text, rng, stats);
      assert.ok(sel, `valid selector rejected: ${text}`);
    }
  });
});
