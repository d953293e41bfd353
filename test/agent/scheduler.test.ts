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
    assert.equal(job.inFlight, 0, 'the follow-up waits for the coalescing delay too');
    clock.advance(10);
    await settle();
    assert.equal(job.inFlight, 1);
    await job.finish();
    clock.advance(1000);
    await settle();
    assert.equal(job.runs.length, 2);
  });

  it('a change that finds the scheduler idle runs at once, without a clock tick', async () => {
    const clock = new ManualClock();
    const job = new ManualJob(clock);
    const s = new FlushScheduler({ clock, run: job.run });
    s.kick();
    s.kick(); // the same synchronous batch joins the run
    await settle();
    assert.deepEqual(job.runs, [0]);
    await job.finish();
    assert.equal(s.busy, false);
  });

  it('sequential single changes are never throttled, however many', async () => {
    const clock = new ManualClock();
    const job = new ManualJob(clock);
    const s = new FlushScheduler({ clock, burst: 2, intervalMs: 100, run: job.run });
    // 100 changes, each arriving 1 ms after the previous run ended (a node starting pods one after another).
    for (let i = 0; i < 100; i++) {
      s.kick();
      await settle();
      assert.equal(job.inFlight, 1, `change ${i} started its run at once`);
      clock.advance(1);
      await job.finish();
    }
    assert.equal(job.runs.length, 100);
    assert.deepEqual(job.runs.slice(0, 3), [0, 1, 2]);
  });

  it('throttles a storm: follow-up runs spend the bucket, then one per interval', async () => {
    const clock = new ManualClock();
    const job = new ManualJob(clock);
    const s = new FlushScheduler({ clock, burst: 3, intervalMs: 100, run: job.run });
    // Changes keep arriving while each run is in progress (every run lasts 5 ms).
    s.kick();
    await settle();
    for (let t = 0; t < 1000; t += 5) {
      s.kick();
      clock.advance(5);
      if (job.inFlight > 0) await job.finish();
      await settle();
    }
    const times = job.runs;
    // The first run (from idle) and three follow-ups back to back; then each follow-up waits for
    // a token, and only a change arriving after it finished runs at once: at most two runs per interval.
    assert.deepEqual(times.slice(0, 4), [0, 5, 10, 15]);
    const pairs = times.slice(6).map((t, i) => t - times[i + 4]!);
    assert.ok(pairs.every((g) => g >= 95), `at most two runs per interval: ${pairs}`);
    assert.ok(times.length >= 14 && times.length <= 25, `about 4 + 2 × 1000/100 runs, got ${times.length}`);
    // The storm is over; the bucket is empty, but a single change still runs at once.
    while (s.busy) {
      clock.advance(100);
      await settle();
      if (job.inFlight > 0) await job.finish();
    }
    const before = times.length;
    s.kick();
    await settle();
    assert.equal(times.length, before + 1, 'a change after the storm is not throttled');
    await job.finish();
  });

  it('an expedited change skips the storm throttle', async () => {
    const clock = new ManualClock();
    const job = new ManualJob(clock);
    const s = new FlushScheduler({ clock, burst: 1, intervalMs: 100, run: job.run });
    s.kick();
    await settle();
    s.kick();
    await job.finish(); // follow-up 1 spends the only token
    assert.equal(job.runs.length, 2);
    s.kick();
    await job.finish(); // follow-up 2 must wait for a token …
    assert.equal(job.runs.length, 2);
    s.expedite(); // … unless someone waits for it
    await settle();
    assert.equal(job.runs.length, 3);
    await job.finish();
  });

  it('an empty follow-up run gives its token back', async () => {
    const clock = new ManualClock();
    let empty = true;
    let inFlight: (() => void) | undefined;
    const runs: number[] = [];
    const s = new FlushScheduler({
      clock,
      burst: 2,
      intervalMs: 100,
      run: () => {
        runs.push(clock.now());
        return new Promise<boolean>((resolve) => (inFlight = () => resolve(!empty)));
      },
    });
    const finish = async (): Promise<void> => {
      const f = inFlight;
      inFlight = undefined;
      f?.();
      await settle();
    };
    s.kick();
    await settle();
    // Twenty empty follow-ups back to back: none is throttled.
    for (let i = 0; i < 20; i++) {
      s.kick();
      await finish();
    }
    assert.equal(runs.length, 21);
    // Follow-ups with work spend the bucket (the one in flight and the next), then one waits for a token.
    empty = false;
    for (let i = 0; i < 3; i++) {
      s.kick();
      await finish();
    }
    assert.equal(runs.length, 22, `${runs}`);
    clock.advance(100);
    await settle();
    assert.equal(runs.length, 23);
    await finish();
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
