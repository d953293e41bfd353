import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GcPauses } from '../../src/cni/gc-pauses.ts';

describe('GC pauses for the ADD and DEL log lines', () => {
  it('sums the pauses that started within a range, among the newest kept', () => {
    const p = new GcPauses();
    try {
      p.note(10, 1.25);
      p.note(20, 2);
      p.note(30, 4);
      assert.equal(p.within(15, 30), 6);
      assert.equal(p.within(0, 9), 0);
      for (let i = 0; i < 100; i++) p.note(100 + i, 1);
      assert.equal(p.within(0, 50), 0, 'the oldest are forgotten');
      assert.equal(p.within(190, 199), 10);
    } finally {
      p.close();
    }
  });
});
