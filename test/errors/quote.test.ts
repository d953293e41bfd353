import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { elide, escapeControls, quote, safeLine } from '../../src/errors/mod.ts';

describe('errors - how messages show user input', () => {
  it('quotes strings on one line with controls, escapes and bidi overrides escaped', () => {
    assert.equal(quote('web'), '"web"');
    assert.equal(quote('a\nb'), '"a\\nb"');
    assert.equal(quote('\u001b[31mred'), '"\\u001b[31mred"');
    assert.equal(quote('x\u009by\u202ez'), '"x\\u009by\\u202ez"');
    assert.equal(quote(42), '42');
    assert.equal(quote(undefined), 'undefined');
  });

  it('cuts long values in the middle and says how long they were', () => {
    const q = quote('a'.repeat(500) + 'z'.repeat(500_000));
    assert.equal(q, `"${'a'.repeat(39)}…${'z'.repeat(39)}" (500500 characters)`);
    assert.match(quote({ big: 'x'.repeat(1000) }), /^\{"big":"x+…x+"\} \(1010 characters\)$/);
  });

  it('never splits a surrogate pair, never lets a line break through', () => {
    const cut = elide('😀'.repeat(100), 20);
    assert.doesNotMatch(cut, /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/);
    assert.equal(escapeControls('a\r\nb\u2028c'), 'a\\r\\nb\\u2028c');
    assert.equal(safeLine(`bad "${'n'.repeat(5000)}"`).length < 2100, true);
    assert.doesNotMatch(safeLine('one\ntwo'), /\n/);
  });
});
