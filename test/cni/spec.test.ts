import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExecError } from '../../src/os/mod.ts';
import { MargayError } from '../../src/errors/mod.ts';
import { CniError, compareVersions, toCniError } from '../../src/cni/spec.ts';
import { KeyedLock } from '../../src/cni/locks.ts';

describe('cni errors - mapping', () => {
  const cases: [unknown, number][] = [
    [new MargayError('MARGAY_ERR_DATASTORE_UNAVAILABLE', 'etcd down'), 11],
    [new MargayError('MARGAY_ERR_CONFLICT', 'busy'), 11],
    [new MargayError('MARGAY_ERR_POOL_EXHAUSTED', 'full'), 101],
    [new MargayError('MARGAY_ERR_NO_POOL', 'none'), 101],
    [new MargayError('MARGAY_ERR_VALIDATION', 'bad'), 7],
    [new ExecError({ cmd: 'ip', args: [], exitCode: 2, signal: null, stdout: '', stderr: 'RTNETLINK answers: Operation not permitted', timedOut: false }), 5],
    [new Error('boom'), 999],
  ];
  for (const [err, want] of cases) {
    it(`${(err as Error).name} ${(err as Error).message.slice(0, 20)} → ${want}`, () => {
      assert.equal(toCniError(err).code, want);
    });
  }
  it('keeps the Margay code in details', () => {
    assert.equal(toCniError(new MargayError('MARGAY_ERR_NO_POOL', 'x')).details, 'MARGAY_ERR_NO_POOL');
  });
  it('error objects', () => {
    assert.deepEqual(new CniError(7, 'bad', 'more').toObject('0.4.0'), { cniVersion: '0.4.0', code: 7, msg: 'bad', details: 'more' });
  });
  it('compares versions numerically', () => {
    assert.equal(compareVersions('0.4.0', '1.0.0'), -1);
    assert.equal(compareVersions('1.1.0', '1.0.0'), 1);
    assert.equal(compareVersions('0.10.0', '0.9.0'), 1);
  });
});

describe('cni locks', () => {
  it('serialises one key, runs different keys together', async () => {
    const lock = new KeyedLock();
    const log: string[] = [];
    const step = (name: string, ms: number) => async () => {
      log.push(`${name}+`);
      await new Promise((r) => setTimeout(r, ms));
      log.push(`${name}-`);
    };
    await Promise.all([lock.run(['a'], step('a1', 20)), lock.run(['a'], step('a2', 1)), lock.run(['b'], step('b1', 1))]);
    assert.deepEqual(log.slice(0, 2), ['a1+', 'b1+']);
    assert.ok(log.indexOf('a2+') > log.indexOf('a1-'));
    assert.equal(lock.size, 0);
  });
  it('multi-key sections never deadlock crosswise', async () => {
    const lock = new KeyedLock();
    let n = 0;
    await Promise.all(Array.from({ length: 50 }, (_, i) => lock.run(i % 2 ? ['x', 'y'] : ['y', 'x'], async () => void n++)));
    assert.equal(n, 50);
  });
  it('releases after a failure', async () => {
    const lock = new KeyedLock();
    await assert.rejects(lock.run(['k'], async () => Promise.reject(new Error('x'))));
    assert.equal(await lock.run(['k'], async () => 1), 1);
  });
});
