import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HelperPool } from '../../src/cni/helper-pool.ts';

describe('helper pool', () => {
  it('one request after another: only the first helper is made; concurrent ones spread to the least busy', async () => {
    let made = 0;
    const pool = new HelperPool(3, () => ({ id: made++ }));
    for (let i = 0; i < 5; i++) assert.equal(await pool.use(async (h) => h.id), 0);
    assert.equal(pool.made().length, 1);
    const gates: (() => void)[] = [];
    const hold = (h: { id: number }) => new Promise<number>((resolve) => gates.push(() => resolve(h.id)));
    const running = [pool.use(hold), pool.use(hold), pool.use(hold), pool.use(hold)];
    assert.equal(pool.made().length, 3);
    for (const open of gates) open();
    assert.deepEqual(await Promise.all(running), [0, 1, 2, 0]);
    assert.equal(await pool.use(async (h) => h.id), 0, 'idle again: the first');
    await assert.rejects(pool.use(async () => Promise.reject(new Error('boom'))), /boom/);
    assert.equal(await pool.use(async (h) => h.id), 0, 'a failure frees its helper');
  });
});
