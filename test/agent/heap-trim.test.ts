// The heap trim: one collection after a burst of updates and a quiet moment, never for steady
// small changes, never while updates or applies go on (nor during a running apply), at most one
// per interval.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HeapTrim } from '../../src/agent/heap-trim.ts';
import { ManualClock } from '../../src/os/mod.ts';

function setup() {
  const clock = new ManualClock();
  let gcs = 0;
  const infos: number[] = [];
  const trim = new HeapTrim({ clock, gc: () => gcs++, minUpdates: 100, quietMs: 1000, minIntervalMs: 30_000, onCollected: (i) => infos.push(i.heapAfter) });
  return { clock, trim, gcs: () => gcs, infos };
}

describe('heap trim', () => {
  it('collects once after a burst, when updates and applies have stopped for the quiet time', () => {
    const { clock, trim, gcs, infos } = setup();
    for (let i = 0; i < 10; i++) trim.note(20); // 200 updates: a burst
    clock.advance(900);
    trim.busy(); // an apply of the burst: the quiet time starts again
    clock.advance(900);
    assert.equal(gcs(), 0);
    clock.advance(200);
    assert.equal(gcs(), 1);
    assert.equal(infos.length, 1);
    clock.advance(60_000);
    assert.equal(gcs(), 1, 'nothing more without a new burst');
  });

  it('never collects for steady small changes', () => {
    const { clock, trim, gcs } = setup();
    for (let i = 0; i < 99; i++) {
      trim.note(1);
      trim.busy();
      clock.advance(5000);
    }
    assert.equal(gcs(), 0);
  });

  it('waits out the interval after a collection, and a stop cancels', () => {
    const { clock, trim, gcs } = setup();
    trim.note(100);
    clock.advance(1000);
    assert.equal(gcs(), 1);
    trim.note(100);
    clock.advance(5000);
    assert.equal(gcs(), 1, 'within 30 s of the last one');
    clock.advance(25_000);
    assert.equal(gcs(), 2);
    trim.note(100);
    trim.stop();
    clock.advance(60_000);
    assert.equal(gcs(), 2);
  });

  it('waits while an apply is running', () => {
    const clock = new ManualClock();
    let gcs = 0;
    let working = true;
    const trim = new HeapTrim({ clock, gc: () => gcs++, minUpdates: 100, quietMs: 1000, working: () => working });
    trim.note(100);
    clock.advance(2500);
    assert.equal(gcs, 0, 'not during the apply');
    working = false;
    clock.advance(500);
    assert.equal(gcs, 1, 'at the next quiet check after it');
  });

  it('gives the C library’s free pages back after each collection, not before', () => {
    const clock = new ManualClock();
    const order: string[] = [];
    const trim = new HeapTrim({ clock, gc: () => order.push('gc'), release: () => order.push('release'), minUpdates: 100, quietMs: 1000 });
    trim.note(100);
    clock.advance(999);
    assert.deepEqual(order, []);
    clock.advance(1);
    assert.deepEqual(order, ['gc', 'release']);
  });

  it('finds V8’s collector without --expose-gc and runs it', () => {
    // Fetched at the first collection (vm context), not at construction.
    const real = new ManualClock();
    const t = new HeapTrim({ clock: real, minUpdates: 1, quietMs: 10 });
    t.note(1);
    real.advance(10);
    assert.equal(t.collections, 1);
  });
});
