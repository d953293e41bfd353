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
      [['--lease-ttl', '1'], /--lease-ttl: expected whole seconds from 2 to 86400/],
      [['--lease-ttl', '9999999999'], /--lease-ttl: expected whole seconds from 2 to 86400, got "9999999999"/],
      [['--interval', '600h'], /--interval: expected a duration of at least 1ms such as 30s, 5m or 1h, at most 596h31m23s, got "600h"/],
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
