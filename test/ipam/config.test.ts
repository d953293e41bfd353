import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { blockLimit, decodeConfigRecord, effectiveConfig, encodeConfigRecord, DEFAULT_IPAM_CONFIG } from '../../src/ipam/config.ts';
import { backoffMs } from '../../src/ipam/retry.ts';
import { SingleFlight } from '../../src/ipam/single-flight.ts';
import { candidateBlocks, fnv32, poolFromResource, selectPools } from '../../src/ipam/pools.ts';
import { validateResource } from '../../src/api/validate.ts';
import { formatCidr } from '../../src/net/mod.ts';
import { pool } from './helpers.ts';

describe('ipam config', () => {
  test("Calico's v2 record, then the v3 resource, over the defaults", () => {
    assert.equal(encodeConfigRecord({ ...DEFAULT_IPAM_CONFIG, strictAffinity: true }), '{"strict_affinity":true,"auto_allocate_blocks":true,"maxBlocksPerHost":0}');
    assert.deepEqual(decodeConfigRecord('{"strict_affinity":true}'), { strictAffinity: true, autoAllocateBlocks: true });
    const c = effectiveConfig({ strictAffinity: true, maxBlocksPerHost: 4 }, { maxBlocksPerHost: 9, ipCooldownSeconds: 3 });
    assert.deepEqual(c, { strictAffinity: true, autoAllocateBlocks: true, maxBlocksPerHost: 9, ipCooldownSeconds: 3 });
    assert.equal(blockLimit(DEFAULT_IPAM_CONFIG), 20);
    assert.equal(blockLimit({ ...DEFAULT_IPAM_CONFIG, maxBlocksPerHost: 4 }), 4);
    assert.equal(blockLimit({ ...DEFAULT_IPAM_CONFIG, maxBlocksPerHost: 4 }, 9), 4);
    assert.equal(blockLimit(DEFAULT_IPAM_CONFIG, 3), 3);
  });
});

describe('ipam retry and coalescing', () => {
  test('backoff: none first, then jittered exponential, capped', () => {
    assert.equal(backoffMs(0, () => 0.5), 0);
    assert.equal(backoffMs(1, () => 1), 2);
    assert.equal(backoffMs(3, () => 1), 8);
    assert.equal(backoffMs(40, () => 1), 50);
    assert.equal(backoffMs(40, () => 0), 12.5);
  });

  test('single flight: concurrent callers share one run, the next call runs again', async () => {
    const sf = new SingleFlight<number>();
    let runs = 0;
    const fn = async () => {
      runs++;
      await new Promise((r) => setTimeout(r, 5));
      return runs;
    };
    assert.deepEqual(await Promise.all([sf.run('k', fn), sf.run('k', fn), sf.run('k', fn)]), [1, 1, 1]);
    assert.equal(await sf.run('k', fn), 2);
    await assert.rejects(sf.run('e', async () => { throw new Error('boom'); }), /boom/);
    assert.equal(await sf.run('e', async () => 7), 7, 'a failure is not remembered');
  });
});

describe('ipam pools', () => {
  test('a host walks the blocks of a pool from its own start, wrapping round', () => {
    const p = poolFromResource(validateResource(pool('p', '10.0.0.0/24', { blockSize: 26 })))!;
    const order = [...candidateBlocks(p, 'node-a', 10)].map(formatCidr);
    assert.equal(order.length, 4);
    assert.equal(new Set(order).size, 4);
    assert.equal(order[0], ['10.0.0.0/26', '10.0.0.64/26', '10.0.0.128/26', '10.0.0.192/26'][fnv32('node-a') % 4]);
    assert.equal(fnv32(''), 0x811c9dc5);
    assert.equal(fnv32('a'), 0x050c5d7e, 'Go hash/fnv New32 of "a"');
  });

  test('selection is by name order, and Manual pools only on request', () => {
    const pools = [pool('b', '10.2.0.0/16'), pool('a', '10.1.0.0/16'), pool('m', '10.3.0.0/16', { assignmentMode: 'Manual' })].map((r) => poolFromResource(validateResource(r))!);
    assert.deepEqual(selectPools(pools, { family: 4, nodeLabels: {}, use: 'Workload' }).map((p) => p.name), ['a', 'b']);
    assert.deepEqual(selectPools(pools, { family: 4, nodeLabels: {}, use: 'Workload', requested: ['m'] }).map((p) => p.name), ['m']);
  });
});
