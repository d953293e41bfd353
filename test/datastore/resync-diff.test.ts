import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { KVPair } from '../../src/datastore/datastore.ts';
import { diffSnapshot } from '../../src/datastore/resync-diff.ts';

const kv = (key: string, modRevision: number, createRevision = modRevision): KVPair => ({
  key,
  value: `${key}@${modRevision}`,
  modRevision,
  createRevision,
});

describe('resync diff', () => {
  it('an empty past makes everything an update', () => {
    const listed = [kv('/a', 2), kv('/b', 3)];
    assert.deepEqual(diffSnapshot(new Map(), listed), { updates: listed, deletes: [] });
  });

  it('unchanged keys produce nothing', () => {
    const known = new Map([
      ['/a', 2],
      ['/b', 3],
    ]);
    assert.deepEqual(diffSnapshot(known, [kv('/a', 2), kv('/b', 3)]), { updates: [], deletes: [] });
  });

  it('changed, new and gone keys', () => {
    const known = new Map([
      ['/a', 2],
      ['/b', 3],
      ['/gone', 4],
      ['/c', 5],
    ]);
    const listed = [kv('/a', 2), kv('/b', 9, 3), kv('/c', 12, 12), kv('/new', 10)];
    assert.deepEqual(diffSnapshot(known, listed), {
      updates: [kv('/b', 9, 3), kv('/c', 12, 12), kv('/new', 10)],
      deletes: ['/gone'],
    });
  });

  it('a key deleted and re-created is an update, not a delete', () => {
    assert.deepEqual(diffSnapshot(new Map([['/a', 2]]), [kv('/a', 7, 7)]), { updates: [kv('/a', 7, 7)], deletes: [] });
  });

  it('a lower revision (a store restored from backup) still counts as a change', () => {
    assert.deepEqual(diffSnapshot(new Map([['/a', 20]]), [kv('/a', 5)]).updates, [kv('/a', 5)]);
  });

  it('deletes come out sorted', () => {
    const known = new Map([
      ['/z', 1],
      ['/m', 2],
      ['/a', 3],
    ]);
    assert.deepEqual(diffSnapshot(known, []).deletes, ['/a', '/m', '/z']);
  });
});
