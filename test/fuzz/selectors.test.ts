/**
 * Fuzz: selectors built from the grammar's own tokens and hostile strings. The parser accepts or
 * throws SelectorParseError (nothing else), with a one-line, bounded message; an accepted selector's
 * canonical form parses to itself with the same id; and a policy carrying any of them goes through
 * `margay validate` cleanly.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { parseSelector, SelectorParseError } from '../../src/selector/mod.ts';
import { margay } from '../cli/helpers.ts';
import { hostileString, runs } from './arbitraries.ts';
import { assertCleanOutcome, Tally } from './checks.ts';

const TOKENS = [
  'a', 'app', 'k8s.io/name', ' ', '==', '!=', '!', '&&', '||', '(', ')', 'has(', 'has(a)', 'all()', 'global()', 'in', 'not in', '{', '}', ',',
  '"web"', "'db'", '""', 'contains', 'starts with', 'ends with', '"x', "'", '\\', '😀', '\t', '\n', '((((', '))))', '!!!!',
];

const selectorText = fc.oneof(
  { weight: 4, arbitrary: fc.array(fc.constantFrom(...TOKENS), { maxLength: 12 }).map((t) => t.join(' ')) },
  { weight: 2, arbitrary: fc.array(fc.constantFrom(...TOKENS), { maxLength: 12 }).map((t) => t.join('')) },
  { weight: 1, arbitrary: hostileString },
  { weight: 1, arbitrary: fc.integer({ min: 1, max: 400 }).map((n) => `${'('.repeat(n)}a == "b"${')'.repeat(n)}`) },
);

const dir = mkdtempSync(join(tmpdir(), 'margay-fuzz-selectors-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

describe('fuzz - selectors', () => {
  it('parse or a SelectorParseError with a short one-line message; canonical forms are fixed points (3,000 cases)', () => {
    const tally = new Tally();
    fc.assert(
      fc.property(selectorText, (text) => {
        try {
          const sel = parseSelector(text);
          const again = parseSelector(sel.toString());
          assert.equal(again.toString(), sel.toString(), `canonical form of ${JSON.stringify(text)}`);
          assert.equal(again.id, sel.id);
          tally.add('parsed');
        } catch (err) {
          assert.ok(err instanceof SelectorParseError, `${JSON.stringify(text.slice(0, 200))}: ${String(err)}`);
          assert.doesNotMatch(err.message, /[\u0000-\u001f\u007f-\u009f]/, 'one line, no raw control character');
          assert.ok(err.message.length <= 2000, `a message of ${err.message.length} characters`);
          tally.add('rejected');
        }
      }),
      runs(3000),
    );
    console.log(`# selectors: ${tally.total} cases: ${tally}`);
  });

  it('a policy with any selector goes through validate cleanly (300 cases)', async () => {
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(selectorText, async (selector) => {
        const path = join(dir, `gnp-${seq++}.json`);
        writeFileSync(path, JSON.stringify({ apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: 'p' }, spec: { selector, ingress: [{ action: 'Allow', source: { selector } }] } }));
        const run = await margay(['validate', '-f', path]);
        assertCleanOutcome(run, `selector ${JSON.stringify(selector.slice(0, 200))}`);
        tally.add(run.code === 0 ? 'valid' : 'refused');
      }),
      runs(300),
    );
    console.log(`# selectors through validate: ${tally.total} cases: ${tally}`);
  });
});
