import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { margay } from '../cli/helpers.ts';

describe('margay controllers - flags', () => {
  test('bad flags are refused before anything starts', async () => {
    const ds = new MemoryDatastore();
    for (const [args, re] of [
      [['--leak-grace-period', 'soon'], /--leak-grace-period: expected a duration/],
      [['--interval', '-5s'], /--interval: expected a duration/],
      [['--lease-ttl', '1'], /--lease-ttl: expected whole seconds ≥ 2/],
    ] as const) {
      const r = await margay(['controllers', ...args], { datastore: ds });
      assert.equal(r.code, 1, args.join(' '));
      assert.match(r.stderr, re);
    }
    assert.equal((await ds.list('/calico/')).items.length, 0, 'no leader key written');
  });

  test('help names the flags', async () => {
    const r = await margay(['controllers', '--help']);
    assert.equal(r.code, 0);
    for (const flag of ['--leak-grace-period', '--interval', '--lease-ttl', '--identity', '--log-level']) assert.match(r.stdout, new RegExp(flag));
  });
});
