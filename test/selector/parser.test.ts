// Parser, evaluation, canonical form and id tests. The selectorTests, badSelectors and
// canonicalisationTests tables are Calico's parser_test.go, re-expressed.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hasCode, MargayError } from '../../src/errors/mod.ts';
import { evaluate } from '../../src/selector/evaluate.ts';
import { parseSelector, selectorId, SelectorParseError, type SelectorNode } from '../../src/selector/mod.ts';
import { MAX_NESTING } from '../../src/selector/parser.ts';

type L = Record<string, string>;

// [selector, labels that match, labels that do not]
const selectorTests: Array<[string, L[], L[]]> = [
  ['a == "b"', [{ a: 'b' }, { a: 'b', c: 'd' }], [{}, { a: 'c' }, { c: 'd' }]],
  ['a == "b" && c == "d"', [{ a: 'b', c: 'd' }], [{}, { a: 'b', c: 'e' }, { a: 'c', c: 'd' }, { c: 'd' }, { a: 'b' }]],
  ['a == "b" || c == "d"', [{ a: 'b', c: 'd' }, { a: 'b' }, { c: 'd' }], [{}, { a: 'e', c: 'e' }, { c: 'e' }, { a: 'e' }]],
  [`a in {"'", '"', "c"}`, [{ a: 'c' }, { a: '"' }, { a: "'" }], [{}, { a: 'e' }]],
  [`a not in {"'", '"', "c"}`, [{}, { a: 'e' }], [{ a: 'c' }, { a: '"' }, { a: "'" }]],

  ["a == 'a'", [{ a: 'a' }], []],
  ['a == "a"', [{ a: 'a' }], []],
  ['a != "b"', [{ a: 'a' }], []],
  ['a != "a"', [{}], []],
  ['a contains "a"', [{ a: 'a' }, { a: 'bab' }, { a: 'aaa', b: 'c' }], [{}, { a: 'b' }, { b: 'aaa' }]],
  ['a starts with "a"', [{ a: 'a' }, { a: 'abb' }, { a: 'aaa', b: 'c' }], [{}, { a: 'b' }, { a: 'baa' }, { b: 'aaa' }]],
  ['a ends with "a"', [{ a: 'a' }, { a: 'bba' }, { a: 'aaa', b: 'c' }], [{}, { a: 'b' }, { a: 'aab' }, { b: 'aaa' }]],
  ['a in {"a"}', [{ a: 'a' }], []],
  ['!a in {"a"}', [{ a: 'b' }], []],
  ['a in {"a", "b"}', [{ a: 'a' }], []],
  ['a in {"a", "b"}', [{ a: 'b' }], []],
  ['a not in {"d", "e"}', [{ a: 'a' }], []],
  ['has(a)', [{ a: 'b' }], []],
  ['!has(a)', [{ b: 'b' }], []],
  ['', [{}], []],
  [' ', [{}], []],
  ['', [{ a: 'b' }], []],
  ['all()', [{}], []],
  [' all()', [{}], []],
  [' all()', [{ a: 'b' }], []],
  ['global()', [{}], []],
  [' global()', [{}], []],
  [' global()', [{ a: 'b' }], []],

  ["a == 'a'", [], [{ a: 'b' }]],
  ["a == 'a'", [], [{}]],
  ['a != "a"', [], [{ a: 'a' }]],
  ["a != 'a'", [], [{ a: 'a' }]],
  ['a in {"a"}', [], [{ a: 'b' }]],
  ['a not in {"a"}', [], [{ a: 'a' }]],
  ['a in {"a", "b"}', [], [{ a: 'c' }]],
  ['has(b)', [], [{ a: 'b' }]],
  ['!!has(b)', [], [{ a: 'b' }]],
  ['! has(a)', [], [{ a: 'b' }]],
  ['!has(a)', [], [{ a: 'b' }]],
  ['!!! has(a)', [], [{ a: 'b' }]],
  ['!!!has(a)', [], [{ a: 'b' }]],
  ['!! ! has(a)', [], [{ a: 'b' }]],
  ['! !!has(a)', [], [{ a: 'b' }]],

  // Boolean expressions.
  ["a == 'a1' && b == 'b1'", [{ a: 'a1', b: 'b1' }], []],
  ["a == 'a1' && b != 'b1'", [], [{ a: 'a1', b: 'b1' }]],
  ["a != 'a1' && b == 'b1'", [], [{ a: 'a1', b: 'b1' }]],
  ["a != 'a1' && b != 'b1'", [], [{ a: 'a1', b: 'b1' }]],
  ["a != 'a1' && !b == 'b1'", [], [{ a: 'a1', b: 'b1' }]],
  ["!a == 'a1' && b == 'b1'", [], [{ a: 'a1', b: 'b1' }]],
  ['has(a) && !has(b)', [{ a: 'a' }], []],
  ['!has(b) && has(a)', [{ a: 'a' }], []],
  ['!(!has(a) || has(b))', [{ a: 'a' }], []],
  ['!(has(b) || !has(a))', [{ a: 'a' }], []],

  ["a == 'a1' || b == 'b1'", [{ a: 'a1', b: 'b1' }], []],
  ["a == 'a1' || b != 'b1'", [{ a: 'a1', b: 'b1' }], []],
  ["a != 'a1' || b == 'b1'", [{ a: 'a1', b: 'b1' }], []],
  ["a != 'a1' || b != 'b1'", [], [{ a: 'a1', b: 'b1' }]],
  ["! a == 'a1' || ! b == 'b1'", [], [{ a: 'a1', b: 'b1' }]],
];

const badSelectors = [
  'b == b', // label == label
  'b contains b', // label contains label
  'b starts with b', // label starts with label
  'b ends with b', // label ends with label
  "'b1' == b", // literal on lhs
  'b', // bare label
  'a b', // garbage
  '!', // garbage
  'foo == "bar" &', // garbage
  'foo == "bar" |', // garbage
  'foo != ||', // garbage
  'foo in {"", ||', // garbage
  'foo in ""', // expect set literal
  '"FOO', // unterminated string
  `"FOO'`, // unterminated string
  '"FOO', // unterminated string
  "'FOO", // unterminated string
  '(', // unterminated paren
  '(a == "foo"', // unterminated paren
  ')', // unmatched paren
  '()', // empty parens
  '%', // unexpected char
  'a == "b" && %', // unexpected char
  'a == "b" || %', // unexpected char
  'a ', // should be followed by operator
  'has(foo) &&', // should be followed by operator
];

// [input, canonical, uid ('' when the table gives none)]
const canonicalisationTests: Array<[string, string, string]> = [
  ['', 'all()', 's:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug'],
  [' all() ', 'all()', 's:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug'],
  [' (all() )', 'all()', 's:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug'],
  ['! (has( b)||! has(a ))', '!(has(b) || !has(a))', 's:Iss0uCleLYv1GSv_pNm7hAO58kE9jAx1NKyG3Q'],
  ['! (a == "b"&&! c != "d")', '!(a == "b" && !c != "d")', 's:lh3haoY1ikTRkd4UZu0nWSaIBknYLPJLX16d-w'],
  [`a == "'"`, `a == "'"`, ''],
  [`a == '"'`, `a == '"'`, ''],
  [`a contains '"'`, `a contains '"'`, ''],
  [`a contains "'"`, `a contains "'"`, ''],
  [`a startswith '"'`, `a starts with '"'`, ''],
  [`a endswith "'"`, `a ends with "'"`, ''],
  [`a!='"'`, `a != '"'`, ''],
  // Set items get sorted/de-duped.
  ['a in {"d"}', 'a in {"d"}', ''],
  ['a in {"a", "b"}', 'a in {"a", "b"}', ''],
  ['a in {"d", "a", "b"}', 'a in {"a", "b", "d"}', ''],
  ['a in {"z", "x", "y", "a"}', 'a in {"a", "x", "y", "z"}', ''],
  ['a in {"z", "z", "x", "y", "x", "a"}', 'a in {"a", "x", "y", "z"}', ''],
];

// Calico's visitor table, without the prefixing visitor: the shapes of the canonical form.
const shapeTests: Array<[string, string]> = [
  ["k == 'v'", 'k == "v"'],
  ["k != 'v'", 'k != "v"'],
  ["k contains 'v'", 'k contains "v"'],
  ["k starts with 'v'", 'k starts with "v"'],
  ["k ends with 'v'", 'k ends with "v"'],
  ["k == 'v' && x == 'y'", '(k == "v" && x == "y")'],
  ["k == 'v' || has(x)", '(k == "v" || has(x))'],
  ["!(k == 'v')", '!k == "v"'],
  ["k in {'v'}", 'k in {"v"}'],
  ["k not in {'v'}", 'k not in {"v"}'],
  ["!(!(k == 'v' && has(t) || all()) && (a in {'b', 'c'}))", '!(!((k == "v" && has(t)) || all()) && a in {"b", "c"})'],
  // More shapes: chains stay flat, groups stay nested, single-operand groups vanish.
  ['a == "1" && b == "2" && c == "3"', '(a == "1" && b == "2" && c == "3")'],
  ['(a == "1" && b == "2") && c == "3"', '((a == "1" && b == "2") && c == "3")'],
  ['a == "1" || b == "2" && c == "3"', '(a == "1" || (b == "2" && c == "3"))'],
  ['((((a == "1"))))', 'a == "1"'],
  ['global( )', 'global()'],
  ['a in {}', 'a in {}'],
  ['a in {"x",}', 'a in {"x"}'],
  ['a notin{"y" ,"x"}', 'a not in {"x", "y"}'],
  ['!!!!a == "x"', 'a == "x"'],
  // A negated negation cancels even across parentheses (Calico prints `!!a == "x"`, which does
  // not re-parse to itself); this keeps the canonical form a fixed point.
  ['!(!a == "x")', 'a == "x"'],
  ['!(!(a == "x" || b == "y"))', '(a == "x" || b == "y")'],
  ['!(!(!has(a)))', '!has(a)'],
];

describe('parser - Calico selectorTests', () => {
  it('has all 58 entries of the table', () => assert.equal(selectorTests.length, 58));
  selectorTests.forEach(([sel, yes, no], i) => {
    it(`#${i} ${JSON.stringify(sel)}`, () => {
      const s = parseSelector(sel);
      const again = parseSelector(s.toString());
      for (const labels of yes) {
        assert.equal(s.matches(labels), true, `${sel} should match ${JSON.stringify(labels)}`);
        assert.equal(evaluate(s.ast, labels), true);
        assert.equal(again.matches(labels), true, 'after canonicalising');
      }
      for (const labels of no) {
        assert.equal(s.matches(labels), false, `${sel} should not match ${JSON.stringify(labels)}`);
        assert.equal(evaluate(s.ast, labels), false);
        assert.equal(again.matches(labels), false, 'after canonicalising');
      }
      assert.match(s.id, /^s:[A-Za-z0-9_-]{38}$/, "Calico's form: s: and a base64url SHA-224");
      assert.equal(again.id, s.id);
    });
  });
  it('one id per canonical form: different selectors never share an id', () => {
    const byCanonical = new Map(selectorTests.map(([sel]) => [parseSelector(sel).toString(), parseSelector(sel).id]));
    assert.equal(new Set(byCanonical.values()).size, byCanonical.size);
    assert.ok(byCanonical.size > 30, `${byCanonical.size} distinct selectors in the table`);
  });
});

describe('parser - Calico badSelectors', () => {
  it('has all 26 entries of the table', () => assert.equal(badSelectors.length, 26));
  for (const sel of badSelectors) {
    it(`rejects ${JSON.stringify(sel)}`, () => {
      assert.throws(
        () => parseSelector(sel),
        (e: unknown) => {
          assert.ok(e instanceof SelectorParseError);
          assert.ok(e instanceof MargayError);
          assert.ok(hasCode(e, 'MARGAY_ERR_SELECTOR_PARSE'));
          assert.equal(e.code, 'MARGAY_ERR_SELECTOR_PARSE');
          assert.equal(e.name, 'SelectorParseError');
          assert.ok(Number.isInteger(e.position) && e.position >= 0 && e.position <= sel.length);
          assert.ok(e.message.includes(`at position ${e.position} in ${JSON.stringify(sel)}`), e.message);
          assert.equal(e.selector, sel);
          return true;
        },
      );
    });
  }
});

describe('parser - Calico canonicalisationTests', () => {
  for (const [input, expected, uid] of canonicalisationTests) {
    it(`canonicalises ${JSON.stringify(input)} as ${expected}${uid ? ` with ${uid}` : ''}`, () => {
      const sel = parseSelector(input);
      assert.equal(sel.toString(), expected);
      assert.equal(String(sel), expected);
      const round = parseSelector(expected);
      assert.equal(round.toString(), expected);
      assert.equal(round.id, sel.id);
      assert.equal(sel.id, selectorId(expected));
      if (uid) assert.equal(sel.id, uid);
    });
  }

  it('gives the empty selector the fact-sheet id', () => {
    assert.equal(parseSelector('').id, 's:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug');
    assert.equal(selectorId('all()'), 's:5y5I3VdRZfDU01O--xXAPx2yxCQQqMf0M6IWug');
  });

  for (const [input, expected] of shapeTests) {
    it(`prints ${JSON.stringify(input)} as ${expected}`, () => {
      assert.equal(parseSelector(input).toString(), expected);
      assert.equal(parseSelector(expected).toString(), expected);
    });
  }

  it('sorts set values by code point, as Go sorts UTF-8', () => {
    // U+FF5E (3 UTF-8 bytes, EF BD 9E) sorts before U+1F600 (F0 9F 98 80); UTF-16 order says otherwise.
    assert.equal(parseSelector('a in {"😀", "～", "b"}').toString(), 'a in {"b", "～", "😀"}');
  });
});

describe('parser - errors', () => {
  const cases: Array<[string, number, RegExp]> = [
    ['a == == b', 5, /^unexpected token "==" at position 5 in "a == == b": expected a quoted string after "=="$/],
    ["'b1' == b", 0, /must start with a label/],
    ['b', 1, /^unexpected end of selector at position 1 in "b": expected an operator after label "b"/],
    ['a b', 2, /unexpected "b" after label "a"/],
    ['foo in ""', 7, /expected "\{" after "in"/],
    ['(a == "foo"', 11, /expected "\)" to close the "\(" at position 0/],
    [')', 0, /unexpected token "\)"/],
    ['a == "b")', 8, /no "\(" to close/],
    ['a == "b" c == "d"', 9, /expected "&&", "\|\|" or the end/],
    ['a in {"x" "y"}', 10, /expected "," or "\}"/],
    ['a in {,}', 6, /expected a quoted string or "\}"/],
    ['%', 0, /unexpected character "%"/],
    ['a == "b" &&\n b == "c"', 11, /unexpected character "\\n"/],
  ];
  for (const [sel, pos, re] of cases) {
    it(`explains ${JSON.stringify(sel)}`, () => {
      assert.throws(
        () => parseSelector(sel),
        (e: unknown) => e instanceof SelectorParseError && e.position === pos && re.test(e.message),
      );
    });
  }

  it('caps nesting depth with a parse error, not a stack overflow', () => {
    const ok = `${'('.repeat(MAX_NESTING)}a == "b"${')'.repeat(MAX_NESTING)}`;
    assert.equal(parseSelector(ok).toString(), 'a == "b"');
    const deep = `${'('.repeat(100_000)}a == "b"${')'.repeat(100_000)}`;
    assert.throws(() => parseSelector(deep), SelectorParseError);
  });

  it('shortens very long selectors in the message', () => {
    const long = `${'a == "x" && '.repeat(100)}%`;
    const err = assert.throws(() => parseSelector(long), SelectorParseError);
    void err;
    try {
      parseSelector(long);
    } catch (e) {
      assert.ok(e instanceof SelectorParseError);
      assert.ok(e.message.length < 400, e.message);
      assert.equal(e.position, long.length - 1);
    }
  });
});

describe('parser - evaluation details', () => {
  it('treats missing labels as Calico does', () => {
    const none = {};
    const cases: Array<[string, boolean]> = [
      ['a == "x"', false],
      ['a != "x"', true],
      ['a contains ""', false],
      ['a starts with ""', false],
      ['a ends with ""', false],
      ['a in {"x"}', false],
      ['a in {}', false],
      ['a not in {"x"}', true],
      ['a not in {}', true],
      ['has(a)', false],
      ['!has(a)', true],
    ];
    for (const [sel, want] of cases) assert.equal(parseSelector(sel).matches(none), want, sel);
  });

  it('matches empty values', () => {
    assert.equal(parseSelector('a == ""').matches({ a: '' }), true);
    assert.equal(parseSelector('has(a)').matches({ a: '' }), true);
    assert.equal(parseSelector('a contains ""').matches({ a: '' }), true);
  });

  it('ignores inherited Object.prototype keys', () => {
    for (const key of ['constructor', 'toString', '__proto__', 'hasOwnProperty']) {
      assert.equal(parseSelector(`has(${key})`).matches({}), false, key);
      assert.equal(parseSelector(`${key} != "x"`).matches({}), true, key);
      assert.equal(parseSelector(`${key} not in {"x"}`).matches({}), true, key);
      assert.equal(parseSelector(`${key} contains ""`).matches({}), false, key);
      const own = JSON.parse(`{${JSON.stringify(key)}: "v"}`) as Record<string, string>;
      assert.equal(parseSelector(`${key} == "v"`).matches(own), true, key);
      assert.equal(parseSelector(`has(${key})`).matches(own), true, key);
    }
  });

  it('handles big set literals', () => {
    const values = Array.from({ length: 50 }, (_, i) => `v${i}`);
    const sel = parseSelector(`a in {${values.map((v) => `"${v}"`).join(',')}}`);
    assert.equal(sel.matches({ a: 'v49' }), true);
    assert.equal(sel.matches({ a: 'v50' }), false);
    const notSel = parseSelector(`a not in {${values.map((v) => `"${v}"`).join(',')}}`);
    assert.equal(notSel.matches({ a: 'v49' }), false);
    assert.equal(notSel.matches({}), true);
  });

  it('exposes a frozen AST', () => {
    const ast: SelectorNode = parseSelector('a == "b" && !has(c)').ast;
    assert.deepEqual(ast, {
      kind: 'and',
      operands: [
        { kind: 'eq', label: 'a', value: 'b' },
        { kind: 'not', operand: { kind: 'has', label: 'c' } },
      ],
    });
    assert.ok(Object.isFrozen(ast));
    assert.deepEqual(parseSelector('').ast, { kind: 'all' });
  });

  it('caches by text', () => {
    assert.equal(parseSelector('x == "cached"'), parseSelector('x == "cached"'));
    assert.equal(JSON.stringify({ s: parseSelector("x == 'y'") }), '{"s":"x == \\"y\\""}');
  });
});
