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

  test('gives up at the deadline, after one last check', async () => {
    let calls = 0;
    const started = Date.now();
    const value = await pollUntil(async () => void calls++, { deadline: started + 30, intervalMs: 5 });
    assert.equal(value, undefined);
    assert.ok(calls >= 2, `checked ${calls} times`);
    assert.ok(Date.now() >= started + 30);
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
