// Tokenizer tests. The table is Calico's tokenizer_test.go (47 cases), re-expressed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SelectorParseError } from '../../src/selector/mod.ts';
import { tokenize, type TokenKind } from '../../src/selector/tokenizer.ts';

type T = [TokenKind, string?];

const a512 = 'a'.repeat(512);

const tokenTests: Array<[string, T[] | null]> = [
  ['a=="b"', [['label', 'a'], ['eq'], ['string', 'b'], ['eof']]],
  ['a!="b"', [['label', 'a'], ['ne'], ['string', 'b'], ['eof']]],
  ['a != "b"', [['label', 'a'], ['ne'], ['string', 'b'], ['eof']]],
  ['(a=="b")', [['lparen'], ['label', 'a'], ['eq'], ['string', 'b'], ['rparen'], ['eof']]],
  ['a=="b"', [['label', 'a'], ['eq'], ['string', 'b'], ['eof']]],
  ['label == "value"', [['label', 'label'], ['eq'], ['string', 'value'], ['eof']]],
  ['label contains "value"', [['label', 'label'], ['contains'], ['string', 'value'], ['eof']]],
  ['contains contains "contains"', [['label', 'contains'], ['contains'], ['string', 'contains'], ['eof']]],
  ["contains contains 'contains'", [['label', 'contains'], ['contains'], ['string', 'contains'], ['eof']]],
  ['label contains"value"', [['label', 'label'], ['contains'], ['string', 'value'], ['eof']]],
  ['label startswith "value"', [['label', 'label'], ['startsWith'], ['string', 'value'], ['eof']]],
  ['label endswith "value"', [['label', 'label'], ['endsWith'], ['string', 'value'], ['eof']]],
  ['label starts with "value"', [['label', 'label'], ['startsWith'], ['string', 'value'], ['eof']]],
  ['startswith starts with "value"', [['label', 'startswith'], ['startsWith'], ['string', 'value'], ['eof']]],
  ['label ends with "value"', [['label', 'label'], ['endsWith'], ['string', 'value'], ['eof']]],
  ['endswith ends with "value"', [['label', 'endswith'], ['endsWith'], ['string', 'value'], ['eof']]],
  ['label starts  with "value"', [['label', 'label'], ['startsWith'], ['string', 'value'], ['eof']]],
  ['label ends  with "value"', [['label', 'label'], ['endsWith'], ['string', 'value'], ['eof']]],
  [`${a512} == "value"`, [['label', a512], ['eq'], ['string', 'value'], ['eof']]],
  [`${'a'.repeat(513)} == "value"`, null],
  ['label == "value', null],
  ["label == 'value", null],
  ['label = "value"', null],
  ['all(', null],
  ['global(', null],
  ['has()', null],
  ['has(foo', null],
  ['has( foo ', null],
  ['a == "b" & has(foo)', null],
  ['a == "b" | has(foo)', null],
  ['label starts foo "value"', null],
  ['label inf "value"', null],
  ['label ends foo "value"', null],
  ['label ends withs "value"', null],
  ['label squiggles "value"', null],
  [
    'a not in "bar" && !has(foo) || b in c',
    [['label', 'a'], ['notIn'], ['string', 'bar'], ['and'], ['not'], ['has', 'foo'], ['or'], ['label', 'b'], ['in'], ['label', 'c'], ['eof']],
  ],
  ['has(calico/k8s_ns)', [['has', 'calico/k8s_ns'], ['eof']]],
  ['has(calico/k8s_ns/role)', [['has', 'calico/k8s_ns/role'], ['eof']]],
  ['has(calico/k8s_NS-.1/role)', [['has', 'calico/k8s_NS-.1/role'], ['eof']]],
  [
    'calico/k8s_ns == "kube-system" && k8s-app == "kube-dns"',
    [['label', 'calico/k8s_ns'], ['eq'], ['string', 'kube-system'], ['and'], ['label', 'k8s-app'], ['eq'], ['string', 'kube-dns'], ['eof']],
  ],
  [
    'a  not  in  "bar"  &&  ! has( foo )  ||  b  in  c ',
    [['label', 'a'], ['notIn'], ['string', 'bar'], ['and'], ['not'], ['has', 'foo'], ['or'], ['label', 'b'], ['in'], ['label', 'c'], ['eof']],
  ],
  [
    'a notin"bar"&&!has(foo)||b in"c"',
    [['label', 'a'], ['notIn'], ['string', 'bar'], ['and'], ['not'], ['has', 'foo'], ['or'], ['label', 'b'], ['in'], ['string', 'c'], ['eof']],
  ],
  ['a not in {}', [['label', 'a'], ['notIn'], ['lbrace'], ['rbrace'], ['eof']]],
  ['a not in {"a"}', [['label', 'a'], ['notIn'], ['lbrace'], ['string', 'a'], ['rbrace'], ['eof']]],
  ['a not in {"a","B"}', [['label', 'a'], ['notIn'], ['lbrace'], ['string', 'a'], ['comma'], ['string', 'B'], ['rbrace'], ['eof']]],
  ['global()', [['global'], ['eof']]],
  ['global( )', [['global'], ['eof']]],
  ['all()', [['all'], ['eof']]],
  ['all( )', [['all'], ['eof']]],
];

describe('tokenizer - Calico table', () => {
  it('has all 49 entries of the table', () => assert.equal(tokenTests.length, 49));
  for (const [input, expected] of tokenTests) {
    const name = input.length > 60 ? `${input.slice(0, 40)}…` : input;
    if (expected === null) {
      it(`rejects ${JSON.stringify(name)}`, () => {
        assert.throws(() => tokenize(input), SelectorParseError);
      });
    } else {
      it(`tokenizes ${JSON.stringify(name)}`, () => {
        const got = tokenize(input).map((t): T => (t.value === '' ? [t.kind] : [t.kind, t.value]));
        assert.deepEqual(got, expected);
      });
    }
  }
});

describe('tokenizer - positions and extras', () => {
  it('records start and end offsets', () => {
    const toks = tokenize(`a  starts with 'x' && has( b )`);
    assert.deepEqual(
      toks.map((t) => [t.kind, t.pos, t.end]),
      [
        ['label', 0, 1],
        ['startsWith', 3, 14],
        ['string', 15, 18],
        ['and', 19, 21],
        ['has', 22, 30],
        ['eof', 30, 30],
      ],
    );
  });

  it('keeps both quote styles without escapes', () => {
    assert.deepEqual(
      tokenize(`a in {"'", '"', "\\"}`).filter((t) => t.kind === 'string').map((t) => t.value),
      ["'", '"', '\\'],
    );
  });

  it('treats word operators as labels when not after a label', () => {
    assert.deepEqual(
      tokenize('in in {}').map((t) => t.kind),
      ['label', 'in', 'lbrace', 'rbrace', 'eof'],
    );
    assert.deepEqual(
      tokenize('has == "x"').map((t) => [t.kind, t.value]),
      [['label', 'has'], ['eq', ''], ['string', 'x'], ['eof', '']],
    );
  });

  it('only accepts space and tab as whitespace', () => {
    assert.equal(tokenize('\ta == "b"\t').length, 4);
    for (const ws of ['\n', '\r', '\u00a0']) {
      const err = assert.throws(() => tokenize(`a ==${ws}"b"`), SelectorParseError);
      void err;
    }
  });

  it('reports the position of the offending character', () => {
    const cases: Array<[string, number]> = [
      ['a == "b" && %', 12],
      ['"FOO', 0],
      ["x == 'FOO", 5],
      ['a = "b"', 2],
      ['a == "b" & c', 9],
      ['has(', 4],
      ['has(a b)', 6],
      ['all( x', 5],
      ['a squiggles "x"', 2],
      ['x inside {}', 2],
      ['x == "y" ' + 'b'.repeat(600), 9],
    ];
    for (const [input, pos] of cases) {
      assert.throws(
        () => tokenize(input),
        (e: unknown) => e instanceof SelectorParseError && e.position === pos,
        `${input} should fail at ${pos}`,
      );
    }
  });
});
