import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { FlushScheduler, Ticker } from '../../src/agent/scheduler.ts';
import { ManualClock } from '../../src/os/mod.ts';

/** Lets pending promise callbacks run (the scheduler's job is async). */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await Promise.resolve();
  await new Promise((r) => setImmediate(r));
}

/** A job whose runs the test completes by hand. */
class ManualJob {
  runs: number[] = [];
  #resolvers: Array<(fail?: Error) => void> = [];

  constructor(private readonly clock: ManualClock) {}

  run = (): Promise<void> => {
    this.runs.push(this.clock.now());
    return new Promise((resolve, reject) => this.#resolvers.push((fail) => (fail ? reject(fail) : resolve())));
  };

  get inFlight(): number {
    return this.#resolvers.length;
  }

  async finish(fail?: Error): Promise<void> {
    const r = this.#resolvers.shift();
    assert.ok(r, 'no run in flight');
    r(fail);
    await settle();
  }
}

describe('flush scheduler', () => {
  it('coalesces a burst of kicks into one run after the delay', async () => {
    const clock = new ManualClock();
    let runs = 0;
    const s = new FlushScheduler({ clock, delayMs: 10, run: async () => void runs++ });
    for (let i = 0; i < 100; i++) s.kick();
    clock.advance(9);
    await settle();
    assert.equal(runs, 0);
    clock.advance(1);
    await settle();
    assert.equal(runs, 1);
    clock.advance(1000);
    await settle();
    assert.equal(runs, 1, 'no run without a kick');
  });

  it('expedite runs at once when idle, and right after a run in progress', async () => {
    const clock = new ManualClock();
    const job = new ManualJob(clock);
    const s = new FlushScheduler({ clock, delayMs: 50, run: job.run });
    s.kick();
    clock.advance(5);
    s.expedite(); // the pending kick joins this run, without its delay
    clock.advance(0);
    await settle();
    assert.deepEqual(job.runs, [5]);
    s.expedite(); // during the run: one more, straight after it
    s.kick();
    clock.advance(1);
    await job.finish();
    clock.advance(0);
    await settle();
    assert.deepEqual(job.runs, [5, 6]);
    await job.finish();
    s.kick(); // an ordinary kick waits for the delay again
    clock.advance(49);
    await settle();
    assert.equal(job.runs.length, 2);
    clock.advance(1);
    await settle();
    assert.deepEqual(job.runs, [5, 6, 56]);
    await job.finish();
  });

  it('expedite still honours the retry backoff', async () => {
    const clock = new ManualClock();
    const job = new ManualJob(clock);
    const s = new FlushScheduler({ clock, delayMs: 10, retryInitialMs: 100, run: job.run });
    s.expedite();
    clock.advance(0);
    await settle();
    await job.finish(new Error('boom'));
    s.expedite();
    clock.advance(99);
    await settle();
    assert.equal(job.runs.length, 1, 'no run before the backoff');
    clock.advance(1);
    await settle();
    assert.equal(job.runs.length, 2);
    await job.finish();
  });

  it('never overlaps runs; kicks during a run cause exactly one more', async () => {
    const clock = new ManualClock();
    const job = new ManualJob(clock);
    const s = new FlushScheduler({ clock, delayMs: 10, run: job.run });
    s.kick();
    clock.advance(10);
    await settle();
    assert.equal(job.inFlight, 1);
    for (let i = 0; i < 5; i++) s.kick();
    clock.advance(100);
    await settle();
    assert.equal(job.inFlight, 1, 'a second run must wait for the first');
    await job.finish();
    assert.equal(job.inFlight, 0);
    clock.advance(10);
    await settle();
    assert.equal(job.inFlight, 1);
    await job.finish();
    clock.advance(1000);
    await settle();
    assert.equal(job.runs.length, 2);
  });

  it('throttles with a leaky bucket: a burst of runs, then one per interval', async () => {
    const clock = new ManualClock();
    const times: number[] = [];
    const s = new FlushScheduler({ clock, delayMs: 0, burst: 3, intervalMs: 100, run: async () => void times.push(clock.now()) });
    // A steady storm: a kick every 5 ms for a second.
    for (let t = 0; t < 1000; t += 5) {
      s.kick();
      clock.advance(5);
      await settle();
    }
    clock.advance(200);
    await settle();
    const first = times.slice(0, 3);
    assert.ok(first[2]! - first[0]! <= 20, `the burst runs back to back: ${first}`);
    // The bucket refills a little while the burst runs, so the first throttled gap is a bit shorter.
    const gaps = times.slice(4).map((t, i) => t - times[i + 3]!);
    assert.ok(gaps.every((g) => g >= 95 && g <= 110), `then one run per interval: ${gaps}`);
    assert.ok(times.length >= 11 && times.length <= 14, `about 3 + 1000/100 runs, got ${times.length}`);
  });

  it('a run that had nothing to do gives its token back', async () => {
    const clock = new ManualClock();
    const times: number[] = [];
    let empty = true;
    const s = new FlushScheduler({
      clock,
      delayMs: 0,
      burst: 2,
      intervalMs: 100,
      run: async () => {
        times.push(clock.now());
        return !empty;
      },
    });
    // Twenty empty runs, 1 ms apart: none is throttled.
    for (let i = 0; i < 20; i++) {
      s.kick();
      clock.advance(1);
      await settle();
    }
    assert.equal(times.length, 20);
    // Runs with work spend the bucket as usual: two back to back, then one per interval.
    empty = false;
    times.length = 0;
    for (let i = 0; i < 4; i++) {
      s.kick();
      clock.advance(1);
      await settle();
    }
    clock.advance(300);
    await settle();
    assert.equal(times.length, 3, `burst of 2, then the third after ~100 ms: ${times}`);
    assert.ok(times[2]! - times[1]! >= 95, `${times}`);
  });

  it('the bucket refills when idle', async () => {
    const clock = new ManualClock();
    const times: number[] = [];
    const s = new FlushScheduler({ clock, delayMs: 0, burst: 2, intervalMs: 100, run: async () => void times.push(clock.now()) });
    for (let i = 0; i < 3; i++) {
      s.kick();
      clock.advance(1);
      await settle();
    }
    assert.equal(times.length, 2);
    clock.advance(100);
    await settle();
    assert.equal(times.length, 3);
    clock.advance(1000); // idle: refills to the burst
    for (let i = 0; i < 2; i++) {
      s.kick();
      clock.advance(1);
      await settle();
    }
    assert.equal(times.length, 5);
  });

  it('retries a failed run with exponential backoff, then resets after a success', async () => {
    const clock = new ManualClock();
    const job = new ManualJob(clock);
    const errors: number[] = [];
    const s = new FlushScheduler({
      clock,
      delayMs: 0,
      burst: 100,
      intervalMs: 1,
      retryInitialMs: 100,
      retryMaxMs: 400,
      run: job.run,
      onError: (_e, n) => errors.push(n),
    });
    s.kick();
    clock.advance(0);
    await settle();
    for (let i = 0; i < 4; i++) {
      await job.finish(new Error('nft failed'));
      clock.advance(1000);
      await settle();
    }
    assert.deepEqual(errors, [1, 2, 3, 4]);
    assert.equal(job.runs.length, 5);
    assert.equal(s.failures, 4);
    s.kick(); // a kick during the run: one more run after it
    await job.finish();
    assert.equal(s.failures, 0);
    clock.advance(0);
    await settle();
    await job.finish();
    assert.equal(s.busy, false);
  });

  it('backoff delays double up to the maximum', async () => {
    const clock = new ManualClock();
    const times: number[] = [];
    let fail = 4;
    const s = new FlushScheduler({
      clock,
      delayMs: 0,
      burst: 100,
      intervalMs: 1,
      retryInitialMs: 100,
      retryMaxMs: 300,
      run: async () => {
        times.push(clock.now());
        if (fail-- > 0) throw new Error('boom');
      },
    });
    s.kick();
    for (let t = 0; t < 1500; t += 1) {
      clock.advance(1);
      await settle();
    }
    // Each retry is scheduled when the failure is seen (within the 1 ms step of this test).
    const gaps = times.slice(1).map((t, i) => t - times[i]!);
    const expected = [100, 200, 300, 300];
    assert.equal(gaps.length, expected.length, `gaps ${gaps}`);
    gaps.forEach((g, i) => assert.ok(g >= expected[i]! && g <= expected[i]! + 1, `gaps ${gaps}`));
  });

  it('whenIdle resolves after the pending work and stop waits for the run in flight', async () => {
    const clock = new ManualClock();
    const job = new ManualJob(clock);
    const s = new FlushScheduler({ clock, delayMs: 5, run: job.run });
    let idle = false;
    await s.whenIdle();
    s.kick();
    void s.whenIdle().then(() => (idle = true));
    clock.advance(5);
    await settle();
    assert.equal(idle, false);
    await job.finish();
    assert.equal(idle, true);
    s.kick();
    clock.advance(5);
    await settle();
    let stopped = false;
    const stopping = s.stop().then(() => (stopped = true));
    await settle();
    assert.equal(stopped, false);
    await job.finish();
    await stopping;
    s.kick();
    clock.advance(100);
    await settle();
    assert.equal(job.runs.length, 2, 'no run after stop');
  });
});

describe('ticker', () => {
  it('ticks every period, can change period, stops', () => {
    const clock = new ManualClock();
    const ticks: number[] = [];
    const t = new Ticker(clock, 100, () => ticks.push(clock.now()));
    clock.advance(350);
    assert.deepEqual(ticks, [100, 200, 300]);
    t.setPeriod(50);
    clock.advance(100);
    assert.deepEqual(ticks, [100, 200, 300, 400, 450]);
    t.setPeriod(0);
    clock.advance(1000);
    assert.equal(ticks.length, 5);
    t.setPeriod(10);
    t.stop();
    clock.advance(1000);
    assert.equal(ticks.length, 5);
  });
});
