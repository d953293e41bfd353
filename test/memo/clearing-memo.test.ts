import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ClearingMemo, ClearingMemo2 } from '../../src/memo/mod.ts';

describe('a memo bounded by the weight it holds', () => {
  it('remembers values until a new one would not fit, then starts again from that one', () => {
    const memo = new ClearingMemo<string, number>(3);
    memo.set('a', 1);
    memo.set('b', 2);
    memo.set('c', 3);
    assert.deepEqual([memo.get('a'), memo.get('b'), memo.get('c'), memo.size, memo.weight], [1, 2, 3, 3, 3]);
    memo.set('d', 4);
    assert.deepEqual([memo.get('a'), memo.get('d'), memo.size, memo.weight], [undefined, 4, 1, 1]);
  });

  it('counts a heavy value by its weight and never keeps one heavier than the whole memo', () => {
    const memo = new ClearingMemo<string, string[]>(100);
    for (let v = 0; v < 1000; v++) {
      memo.set(`list ${v}`, [], 40);
      assert.ok(memo.weight <= 100, `weight ${memo.weight} after ${v}`);
    }
    assert.equal(memo.size, 2);
    memo.set('huge', [], 101);
    assert.equal(memo.get('huge'), undefined);
    assert.equal(memo.size, 2, 'a value that cannot fit clears nothing');
  });
});

describe('a memo by two keys', () => {
  it('tells (a, b) from (b, a) and from a combined text, and clears when full', () => {
    const memo = new ClearingMemo2<string, string, number>(3);
    memo.set('ns', 'app == "x"', 1);
    memo.set('app == "x"', 'ns', 2);
    memo.set('ns', 'app == "x"', 3);
    assert.deepEqual([memo.get('ns', 'app == "x"'), memo.get('app == "x"', 'ns'), memo.get('nsapp == "x"', ''), memo.size], [3, 2, undefined, 2]);
    // Three sets weigh 3 (the replaced value counts until the next clear): full.
    memo.set('ns', 'b', 4);
    assert.deepEqual([memo.get('ns', 'b'), memo.get('ns', 'app == "x"'), memo.size], [4, undefined, 1], 'cleared before it');
    memo.set('ns', 'c', 5);
    assert.deepEqual([memo.get('ns', 'c'), memo.get('ns', 'b'), memo.size, memo.weight], [5, 4, 2, 2]);
  });

  it('is bounded by the weight of what it holds: heavy values clear it sooner, one heavier than all is not kept', () => {
    const memo = new ClearingMemo2<string, string, string>(100);
    memo.set('drop', 'a', 'x', 60);
    memo.set('drop', 'b', 'y', 30);
    assert.deepEqual([memo.size, memo.weight], [2, 90]);
    memo.set('accept', 'c', 'z', 50);
    assert.deepEqual([memo.get('drop', 'a'), memo.get('drop', 'b'), memo.get('accept', 'c'), memo.weight], [undefined, undefined, 'z', 50]);
    memo.set('accept', 'd', 'w', 101);
    assert.deepEqual([memo.get('accept', 'd'), memo.get('accept', 'c'), memo.size], [undefined, 'z', 1]);
  });
});
