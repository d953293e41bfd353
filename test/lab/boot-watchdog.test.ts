import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { bootWatched, type BootAttempt } from '../../src/lab/vm/boot-watchdog.ts';
import { FALLBACK_TSC_KHZ, hostTscKhz, parseCpuKhz } from '../../src/lab/vm/qemu.ts';

/** A clock that moves only when the watchdog pauses: no real time involved. */
function fakeClock(): { now(): number; sleep(ms: number): Promise<void> } {
  let now = 0;
  return { now: () => now, sleep: async (ms: number) => void (now += ms) };
}

/**
 * A runner whose boot n speaks after `speaksAfter[n-1]` looks at the console (undefined: never,
 * a hang; 'exit': the emulator exits). Records what was started and stopped.
 */
function fakeRunner(speaksAfter: (number | undefined | 'exit')[]) {
  const started: number[] = [];
  const stopped: number[] = [];
  const start = (n: number): BootAttempt & { n: number } => {
    started.push(n);
    let looks = 0;
    const plan = speaksAfter[n - 1];
    return {
      n,
      spoke: () => {
        looks++;
        if (plan === 'exit') throw new Error(`qemu ${n} exited`);
        return plan !== undefined && looks > plan;
      },
      stop: async () => void stopped.push(n),
    };
  };
  return { start, started, stopped };
}

describe('lab VM boot watchdog', () => {
  test('a console that speaks in time: one boot, kept running', async () => {
    const runner = fakeRunner([3]);
    const logs: string[] = [];
    const res = await bootWatched({ what: 'VM a', start: runner.start, silenceMs: 1000, attempts: 3, intervalMs: 100, clock: fakeClock(), log: (l) => logs.push(l) });
    assert.equal(res.n, 1);
    assert.equal(res.attempt.n, 1);
    assert.deepEqual(runner.started, [1]);
    assert.deepEqual(runner.stopped, []);
    assert.deepEqual(logs, []);
  });

  test('a silent boot is stopped and booted again, each retry logged', async () => {
    const runner = fakeRunner([undefined, undefined, 0]);
    const logs: string[] = [];
    const res = await bootWatched({ what: 'VM a', start: runner.start, silenceMs: 1000, attempts: 3, intervalMs: 100, clock: fakeClock(), log: (l) => logs.push(l) });
    assert.equal(res.n, 3);
    assert.deepEqual(runner.started, [1, 2, 3]);
    assert.deepEqual(runner.stopped, [1, 2]);
    assert.equal(logs.length, 2);
    assert.match(logs[0]!, /VM a: console silent for 1 s \(boot 1 of 3 hung\), booting again/);
  });

  test('the silence bound is per boot: speaking just before it counts, after it does not', async () => {
    // Looks at t = 0, 100, ..., 1000: the 11th look (t = 1000) is the last of boot 1.
    const inTime = fakeRunner([10]);
    assert.equal((await bootWatched({ what: 'VM a', start: inTime.start, silenceMs: 1000, attempts: 2, intervalMs: 100, clock: fakeClock() })).n, 1);
    const late = fakeRunner([11, 0]);
    assert.equal((await bootWatched({ what: 'VM a', start: late.start, silenceMs: 1000, attempts: 2, intervalMs: 100, clock: fakeClock() })).n, 2);
    assert.deepEqual(late.stopped, [1]);
  });

  test('bounded: after the last silent boot it fails, every attempt stopped', async () => {
    const runner = fakeRunner([undefined, undefined]);
    const logs: string[] = [];
    await assert.rejects(
      bootWatched({ what: 'VM a', start: runner.start, silenceMs: 1000, attempts: 2, intervalMs: 100, clock: fakeClock(), log: (l) => logs.push(l) }),
      (err: Error & { code?: string }) => err.code === 'MARGAY_ERR_NOT_READY' && /hung silently in early boot 2 times/.test(err.message),
    );
    assert.deepEqual(runner.started, [1, 2]);
    assert.deepEqual(runner.stopped, [1, 2]);
    assert.match(logs[1]!, /giving up$/);
  });

  test('an emulator that exits is an error at once, not a retry (and is stopped)', async () => {
    const runner = fakeRunner(['exit', 0]);
    await assert.rejects(bootWatched({ what: 'VM a', start: runner.start, silenceMs: 1000, attempts: 3, intervalMs: 100, clock: fakeClock() }), /qemu 1 exited/);
    assert.deepEqual(runner.started, [1]);
    assert.deepEqual(runner.stopped, [1]);
  });
});

describe('lab VM TSC frequency', () => {
  test('reads the first cpu MHz line of /proc/cpuinfo as kHz', () => {
    assert.equal(parseCpuKhz('processor\t: 0\nmodel name\t: AMD EPYC\ncpu MHz\t\t: 2596.134\n\nprocessor\t: 1\ncpu MHz\t\t: 1800.000\n'), 2596134);
    assert.equal(parseCpuKhz('cpu MHz : 3000\n'), 3000000);
  });

  test('without a usable line: undefined, and the host lookup falls back', () => {
    assert.equal(parseCpuKhz('processor\t: 0\n'), undefined);
    assert.equal(parseCpuKhz('cpu MHz\t\t: 0.000\n'), undefined);
    assert.equal(hostTscKhz('/nonexistent/cpuinfo'), FALLBACK_TSC_KHZ);
  });
});
