// The interner: one shared object per distinct value, counted, forgotten with its last holder.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { idsHash, Interner, labelsHash } from '../../src/selector/interner.ts';
import { sameLabels } from '../../src/selector/label-map.ts';

describe('interner', () => {
  it('returns the first value for every equal one, and forgets it after the last release', () => {
    const interner = new Interner<Record<string, string>>({ hash: labelsHash, same: sameLabels });
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
    interner.release({ ns: 'a', app: 'web' }); // equal but not the held object: ignored
    assert.equal(interner.size, 1);
  });

  it('keeps values whose hashes collide apart, and forgets each with its own last holder', () => {
    const interner = new Interner<Record<string, string>>({ hash: () => 7, same: sameLabels });
    const [x, y, z] = [{ a: '1' }, { a: '2' }, { a: '3' }];
    for (const v of [x, y, z]) assert.equal(interner.acquire({ ...v }) !== v, true);
    assert.equal(interner.size, 3);
    const heldY = interner.acquire({ a: '2' });
    assert.deepEqual(heldY, y);
    interner.release(heldY);
    interner.release(heldY);
    assert.equal(interner.size, 2);
    const heldX = interner.acquire({ a: '1' });
    interner.release(heldX);
    interner.release(heldX);
    assert.equal(interner.size, 1);
    assert.deepEqual(interner.acquire({ a: '3' }), z, 'the last one is still found');
    assert.notEqual(interner.acquire({ a: '1' }), heldX, 'a forgotten one comes back as a new object');
  });

  it('hashes equal contents equally and, for these, different ones differently', () => {
    assert.equal(labelsHash({ a: '1', b: '2' }), labelsHash({ b: '2', a: '1' }));
    assert.notEqual(labelsHash({ 'a,b': 'c' }), labelsHash({ a: 'b,c' }));
    assert.notEqual(labelsHash({ a: '' }), labelsHash({}));
    assert.notEqual(labelsHash({ a: 'b' }), labelsHash({ b: 'a' }));
    assert.notEqual(idsHash(['a/b']), idsHash(['a', 'b']));
    assert.notEqual(idsHash(['a', 'b']), idsHash(['b', 'a']));
    assert.notEqual(idsHash([]), idsHash(['']));
  });
});
