import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { MAX_TIMER_MS, sleep, systemClock } from '../../src/os/mod.ts';

describe('clock - waits longer than a Node timer holds', () => {
  it('a wait beyond 2^31-1 ms is not cut to 1 ms (Node would fire it at once)', async () => {
    let fired = 0;
    const long = systemClock.setTimeout(() => fired++, MAX_TIMER_MS + 1);
    const veryLong = systemClock.setTimeout(() => fired++, 700 * 3600 * 1000);
    const control = systemClock.setTimeout(() => fired += 100, 1);
    await delay(50);
    systemClock.clearTimeout(long);
    systemClock.clearTimeout(veryLong);
    systemClock.clearTimeout(control);
    assert.equal(fired, 100, 'only the 1 ms control timer fired');
  });

  it('sleep returns early, without error, when its signal aborts; a negative wait is none', async () => {
    const ac = new AbortController();
    const slept = sleep(10 * MAX_TIMER_MS, ac.signal).then(() => 'slept');
    ac.abort();
    assert.equal(await Promise.race([slept, delay(2000).then(() => 'still asleep')]), 'slept');
    const none = Promise.all([sleep(-5), sleep(Number.NaN)]).then(() => 'returned');
    assert.equal(await Promise.race([none, delay(2000).then(() => 'still asleep')]), 'returned');
  });
});
