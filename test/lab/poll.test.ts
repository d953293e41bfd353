import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { pollUntil } from '../../src/lab/poll.ts';

describe('lab polling', () => {
  test('returns the first answer, checking again after each pause', async () => {
    let calls = 0;
    const value = await pollUntil(() => (++calls === 3 ? 'ready' : undefined), { deadline: Date.now() + 5000, intervalMs: 1 });
    assert.equal(value, 'ready');
    assert.equal(calls, 3);
  });

  test('gives up at the deadline, after one last check made at or after it', async () => {
    // A clock that moves only when the loop pauses: no real time involved.
    let now = 1000;
    const clock = { now: () => now, sleep: async (ms: number) => void (now += ms) };
    const checkedAt: number[] = [];
    const value = await pollUntil(async () => void checkedAt.push(now), { deadline: 1030, intervalMs: 7, clock });
    assert.equal(value, undefined);
    assert.deepEqual(checkedAt, [1000, 1007, 1014, 1021, 1028, 1035]);
  });

  test('a check that throws ends the wait with its error', async () => {
    await assert.rejects(
      pollUntil(() => {
        throw new Error('the agent exited');
      }, { deadline: Date.now() + 5000, intervalMs: 1 }),
      /the agent exited/,
    );
  });
});
