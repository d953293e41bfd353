// Maps of one element or a Set: the element itself until a second one comes, and back.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { addOne, deleteOne, forEachOne, type OneOrSet } from '../../src/selector/one-or-set.ts';

const all = <V extends object>(map: Map<string, OneOrSet<V>>, key: string): V[] => {
  const out: V[] = [];
  forEachOne(map, key, (v) => out.push(v));
  return out;
};

describe('one or set', () => {
  it('holds one element itself, a Set from the second, and goes back to the element', () => {
    const map = new Map<string, OneOrSet<{ n: number }>>();
    const [a, b, c] = [{ n: 1 }, { n: 2 }, { n: 3 }];
    assert.equal(addOne(map, 'k', a), true, 'a new key');
    assert.equal(map.get('k'), a);
    assert.equal(addOne(map, 'k', a), false);
    assert.equal(map.get('k'), a, 'the same element again: still itself');
    addOne(map, 'k', b);
    addOne(map, 'k', c);
    assert.ok(map.get('k') instanceof Set);
    assert.deepEqual(all(map, 'k'), [a, b, c]);
    assert.equal(deleteOne(map, 'k', b), false);
    assert.equal(deleteOne(map, 'k', a), false);
    assert.equal(map.get('k'), c, 'one left: the element itself');
    assert.equal(deleteOne(map, 'k', a), false, 'not there: nothing');
    assert.equal(deleteOne(map, 'k', c), true, 'the last one: the key goes');
    assert.equal(map.has('k'), false);
    assert.deepEqual(all(map, 'k'), []);
  });
});
