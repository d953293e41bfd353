// The interner: one shared object per distinct value, counted, forgotten with its last holder.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idsKey, Interner, labelsKey } from '../../src/selector/interner.ts';

describe('interner', () => {
  it('returns the first value for every equal one, and forgets it after the last release', () => {
    const interner = new Interner<Record<string, string>>(labelsKey);
    const a = { app: 'web', ns: 'a' };
    const b = { ns: 'a', app: 'web' };
    assert.equal(interner.acquire(a), a);
    assert.equal(interner.acquire(b), a, 'equal content, other key order: the shared one');
    assert.equal(interner.size, 1);
    interner.release(a);
    assert.equal(interner.size, 1, 'one holder left');
    interner.release(a);
    assert.equal(interner.size, 0);
    assert.equal(interner.acquire(b), b, 'forgotten: the next one is shared from now on');
    interner.release({ other: 'x' }); // not held: ignored
    assert.equal(interner.size, 1);
  });

  it('tells apart contents whose joined text would be equal', () => {
    assert.notEqual(labelsKey({ 'a,b': 'c' }), labelsKey({ a: 'b,c' }));
    assert.notEqual(labelsKey({ a: '' }), labelsKey({}));
    assert.notEqual(idsKey(['a/b']), idsKey(['a', 'b']));
    assert.equal(idsKey([]), '[]');
  });
});
