/**
 * The cold start's allocation cuts (session 13, docs/dataplane.md): each new path gives what the
 * one it replaced gave — a rule's expressions split before its jump without a regular expression,
 * a rule's comment written from its parts, a view that shares the desired state's rule lists.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { applyToView, computeTransaction } from '../../src/dataplane/nftables/diff.ts';
import { emptyKernelTable } from '../../src/dataplane/nftables/kernel.ts';
import { encodeVerdict } from '../../src/dataplane/nftables/netlink-keys.ts';
import { RuleExpressions } from '../../src/dataplane/nftables/netlink-rule.ts';
import { writeCommentUserdata, writeRuleCommentUserdata } from '../../src/dataplane/nftables/rule-encode.ts';
import { encodeExpressions } from '../../src/dataplane/nftables/rule-encode.ts';
import { isChainName, parseRule } from '../../src/dataplane/nftables/rule-parse.ts';
import { DesiredState, emptyDirty, rule, ruleComment } from '../../src/dataplane/nftables/state.ts';

const TABLE = { family: 'inet', name: 'margay' };

/** The split the regular expression made before session 13: what precedes a final `jump`/`goto <chain>`. */
function splitByRegex(body: string): { before: string | undefined; word: string; chain: string } | undefined {
  const m = body.includes('jump ') || body.includes('goto ') ? /^(?:(.*) )?(jump|goto) (\S+)$/.exec(body) : null;
  if (!m || !isChainName(m[3]!)) return undefined;
  return { before: m[1], word: m[2]!, chain: m[3]! };
}

/** The expressions the old path encoded for `body`: the part before the jump parsed with a stand-in target, or all of it. */
function expectedHead(body: string): { head: Buffer | undefined; word?: string; chain?: string } {
  const split = splitByRegex(body);
  const encode = (text: string, dropVerdict: boolean): Buffer | undefined => {
    let list = parseRule(text);
    if (list && dropVerdict) {
      const last = list[list.length - 1];
      list = last?.kind === 'verdict' && last.chain === 'x' ? list.slice(0, -1) : undefined;
    }
    const parts = list && encodeExpressions(list);
    return parts ? Buffer.concat(parts) : undefined;
  };
  if (!split) return { head: encode(body, false) };
  const head = encode(`${split.before === undefined ? '' : `${split.before} `}${split.word} x`, true);
  return { head, word: split.word, chain: split.chain };
}

describe('cold start allocations - a rule split before its jump', () => {
  it('splits and encodes as the regular expression did, on rule-like texts', () => {
    const word = fc.constantFrom('jump', 'goto', 'accept', 'drop', 'return', 'counter', 'tcp', 'dport', '80', 'ip', 'saddr', '@v4-s.a', 'meta', 'l4proto', '6', 'x');
    const name = fc.constantFrom('pi-gnp/a', 'po-knp.default/b', 'fwp_0123abcd', 'tw-cali1', '9bad', 'a b', '');
    const sep = fc.constantFrom(' ', ' ', ' ', '  ', '\n', '\t');
    const body = fc.oneof(
      fc.tuple(fc.array(fc.tuple(word, sep), { maxLength: 6 }), fc.constantFrom('jump', 'goto'), sep, name).map(
        ([ws, w, s, n]) => `${ws.map(([a, b]) => a + b).join('')}${w}${s}${n}`,
      ),
      fc.array(fc.tuple(word, sep), { maxLength: 8 }).map((ws) => ws.map(([a, b]) => a + b).join('').trimEnd()),
    );
    fc.assert(
      fc.property(body, (text) => {
        const exprs = new RuleExpressions();
        const head = exprs.head(text);
        const want = expectedHead(text);
        assert.deepEqual(head, want.head, text);
        if (head === undefined) return;
        assert.equal(exprs.jumpWord, want.word, text);
        if (want.word !== undefined) assert.equal(exprs.jumpChain, want.chain, text);
        // And as an object (the transactions' path), the same.
        const o = exprs.encode(text);
        assert.deepEqual(o, want.word === undefined ? { head: want.head } : { head: want.head, jump: { word: want.word, chain: want.chain } });
      }),
      { numRuns: 1500 },
    );
    // Texts the expression did not split (a line break before the verdict's word: `.` stops there)
    // although nft reads them; and ones it did.
    for (const text of ['counter\ncounter jump pi-a', 'counter\rcounter goto pi-a', 'counter\njump pi-a', 'counter\tjump pi-a', 'jump pi-a', 'counter  jump pi-a', 'counter jump 9bad', 'counter jump']) {
      const exprs = new RuleExpressions();
      const want = expectedHead(text);
      assert.deepEqual(exprs.head(text), want.head, JSON.stringify(text));
      assert.equal(exprs.jumpWord, want.head === undefined ? undefined : want.word, JSON.stringify(text));
    }
    assert.ok(expectedHead('counter\ncounter jump pi-a').head, 'nft reads it: the case is real');
  });

  it('shares the parse of what precedes the jump between targets, and tells jump from goto', () => {
    const exprs = new RuleExpressions();
    const a = exprs.head('meta mark & 0x00020000 == 0x00000000 jump pi-a');
    assert.equal(exprs.jumpWord, 'jump');
    assert.equal(exprs.jumpChain, 'pi-a');
    const b = exprs.head('meta mark & 0x00020000 == 0x00000000 jump pi-b');
    assert.equal(a, b, 'one encoding for both');
    assert.equal(exprs.jumpChain, 'pi-b');
    exprs.head('meta mark & 0x00020000 == 0x00000000 goto pi-b');
    assert.equal(exprs.jumpWord, 'goto');
    assert.ok(exprs.head('counter drop'));
    assert.equal(exprs.jumpWord, undefined, 'no verdict left over from the rule before');
  });
});

describe('cold start allocations - a rule comment from its parts', () => {
  it('writes the bytes of its comment text, and refuses the same too long ones', () => {
    const desc = fc.oneof(fc.constant(undefined), fc.constant(''), fc.string({ maxLength: 140 }), fc.string({ unit: 'binary', maxLength: 60 }));
    fc.assert(
      fc.property(fc.string({ minLength: 1, maxLength: 60 }), desc, (body, d) => {
        const r = rule(body, d);
        const a = Buffer.alloc(600, 0xaa);
        const b = Buffer.alloc(600, 0xaa);
        const n = writeCommentUserdata(a, 3, ruleComment(r));
        assert.equal(writeRuleCommentUserdata(b, 3, r.hash, r.desc), n);
        if (n > 0) assert.deepEqual(b.subarray(0, 3 + n), a.subarray(0, 3 + n));
      }),
      { numRuns: 800 },
    );
    // Too long: `mg:` and 16 hex, a space, then 109 bytes (128 with the zero).
    const long = { hash: '0123456789abcdef', desc: 'é'.repeat(55) };
    assert.equal(writeRuleCommentUserdata(Buffer.alloc(600), 0, long.hash, long.desc), 0);
  });
});

describe('cold start allocations - the view shares the desired rules', () => {
  it('takes each chain\'s rule list itself after a transaction, and compares such a chain without its rules', () => {
    const d = new DesiredState();
    const rules = [rule('counter accept', 'one'), rule('jump pi-a', 'two')];
    d.setChain({ name: 'fw-a', rules });
    d.setChain({ name: 'pi-a', rules: [rule('counter drop')] });
    const view = emptyKernelTable();
    const dirty = d.takeDirty();
    assert.ok(computeTransaction(view, d, dirty, TABLE).lines.length > 0);
    applyToView(view, d, dirty, false);
    assert.equal(view.chains.get('fw-a')!.rules, rules, 'the same list, not a copy');
    assert.deepEqual(computeTransaction(view, d, 'all', TABLE).lines, []);
    // A new list replaces the chain in the desired state (lists are never changed): the view still holds the old one, and the diff sees it.
    d.setChain({ name: 'fw-a', rules: [rules[0]!] });
    const tx = computeTransaction(view, d, 'all', TABLE);
    assert.deepEqual(tx.lines.slice(0, 1), ['flush chain inet margay fw-a']);
    assert.equal(rules.length, 2, 'the view\'s list untouched');
    assert.deepEqual(computeTransaction(view, d, emptyDirty(), TABLE).lines, []);
  });
});

describe('cold start allocations - verdicts encoded once', () => {
  it('gives the same bytes each time, unchanged by use, and nothing for what it does not support', () => {
    const a = encodeVerdict('goto fwp_0123');
    const b = encodeVerdict('goto fwp_0123');
    assert.ok(a && b);
    assert.equal(a, b, 'shared');
    assert.deepEqual(Buffer.from(a), Buffer.from(encodeVerdict(' goto  fwp_0123 ')!));
    assert.equal(encodeVerdict('goto a b'), undefined);
    assert.equal(encodeVerdict('goto a b'), undefined, 'remembered as unsupported');
    assert.ok(encodeVerdict('accept'));
  });
});
