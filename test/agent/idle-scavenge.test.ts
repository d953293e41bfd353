import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Foreground } from '../../src/agent/foreground.ts';
import { IdleScavenge } from '../../src/agent/idle-scavenge.ts';
import { ManualClock } from '../../src/os/mod.ts';

function setup(room: { bytes: number }) {
  const clock = new ManualClock();
  const fg = new Foreground(clock);
  let collected = 0;
  const idle = new IdleScavenge({ clock, busy: () => fg.busy, room: () => room.bytes, scavenge: () => void collected++, reserveBytes: 1000, delayMs: 1 });
  fg.onIdle(() => idle.idle());
  return { clock, fg, idle, collected: () => collected };
}

describe('idle scavenge', () => {
  it('collects after the last operation ends when the young generation has less room than the reserve', () => {
    const room = { bytes: 500 };
    const { clock, fg, idle, collected } = setup(room);
    const endA = fg.begin();
    const endB = fg.begin();
    endA();
    clock.advance(5);
    assert.equal(collected(), 0, 'B is still in progress');
    endB();
    assert.equal(collected(), 0, 'not at once: the answer goes out first');
    clock.advance(1);
    assert.equal(collected(), 1);
    assert.equal(idle.scavenges, 1);
  });

  it('does nothing while there is room, or when work has started again meanwhile', () => {
    const room = { bytes: 5000 };
    const { clock, fg, collected } = setup(room);
    fg.begin()();
    clock.advance(10);
    assert.equal(collected(), 0, 'room enough');
    room.bytes = 10;
    fg.begin()();
    const end = fg.begin(); // a new ADD arrives before the look
    clock.advance(10);
    assert.equal(collected(), 0, 'never inside an operation');
    end();
    clock.advance(10);
    assert.equal(collected(), 1);
  });

  it('looks once however many operations end before it looks, and not after stop', () => {
    const room = { bytes: 10 };
    const { clock, fg, idle, collected } = setup(room);
    fg.begin()();
    fg.begin()();
    fg.begin()();
    assert.equal(clock.pendingTimers, 1);
    clock.advance(10);
    assert.equal(collected(), 1);
    idle.stop();
    fg.begin()();
    assert.equal(clock.pendingTimers, 0);
    clock.advance(10);
    assert.equal(collected(), 1);
  });

  it('runs with V8 itself: the default room reading and collection', () => {
    const clock = new ManualClock();
    const idle = new IdleScavenge({ clock, busy: () => false, reserveBytes: Number.MAX_SAFE_INTEGER });
    idle.idle();
    clock.advance(1);
    assert.equal(idle.scavenges, 1);
  });
});
