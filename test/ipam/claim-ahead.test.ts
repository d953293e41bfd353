/**
 * IpamOptions.claimAhead: the node's next block claimed in the background once its blocks run
 * low, joined by an allocation that needs it meanwhile, and never beyond what a claim on the
 * allocation's own path could do (autoAllocateBlocks, maxBlocksPerHost).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { decodeAffinity } from '../../src/ipam/affinity.ts';
import { Ipam, type IpamOptions } from '../../src/ipam/ipam.ts';
import { hostAffinityPrefix } from '../../src/ipam/keys.ts';
import { apply, node, pool } from './helpers.ts';

const ahead: IpamOptions = { sleep: async () => {}, claimAhead: true };

/** A pool of 16-address blocks and a node, with an Ipam made with `options`. */
async function setup(options: IpamOptions): Promise<{ ds: MemoryDatastore; ipam: Ipam }> {
  const ds = new MemoryDatastore();
  await apply(ds, pool('p', '10.0.0.0/24', { blockSize: 28 }), node('n1'));
  return { ds, ipam: new Ipam(ds, options) };
}

/** The affinity states of the node's blocks (`confirmed` or `pending`; which blocks a host gets first depends on its name). */
async function blocksOf(ds: MemoryDatastore, host = 'n1'): Promise<string[]> {
  return (await ds.list(hostAffinityPrefix(host, 4))).items.map((kv) => decodeAffinity(kv.value).state);
}

/** Assigns one address to each of `n` handles `<prefix>0…`, one after another: the blocks they came from. */
async function assignEach(ipam: Ipam, prefix: string, n: number): Promise<{ address: string; block: string }[]> {
  const out: { address: string; block: string }[] = [];
  for (let i = 0; i < n; i++) out.push(...(await ipam.autoAssign({ handle: `${prefix}${i}`, node: 'n1', num4: 1 })).ipv4);
  return out;
}

describe('ipam - claim ahead', () => {
  test('the next block is claimed once a quarter of a block is left, not before', async () => {
    const { ds, ipam } = await setup(ahead);
    await assignEach(ipam, 'a', 11); // 5 of 16 left
    await ipam.close(); // waits for claims made ahead (none)
    assert.deepEqual(await blocksOf(ds), ['confirmed']);
    await assignEach(ipam, 'b', 1); // 4 left: a quarter
    await ipam.close();
    assert.deepEqual(await blocksOf(ds), ['confirmed', 'confirmed']);
  });

  test('the block claimed ahead serves the allocations after the first block fills, with no further claim', async () => {
    const { ds, ipam } = await setup(ahead);
    const first = await assignEach(ipam, 'a', 12);
    await ipam.close();
    const next = await assignEach(ipam, 'b', 8); // 4 from the first block, 4 from the second
    await ipam.close();
    assert.deepEqual(await blocksOf(ds), ['confirmed', 'confirmed']);
    const all = [...first, ...next];
    assert.equal(new Set(all.map((a) => a.address)).size, 20, 'no address twice');
    const firstBlock = first[0]!.block;
    assert.ok(first.every((a) => a.block === firstBlock));
    assert.equal(next.filter((a) => a.block === firstBlock).length, 4, 'the first block is filled first');
    assert.equal(new Set(next.map((a) => a.block)).size, 2);
  });

  test('an allocation that needs a block while a claim ahead runs joins it: one claim, not two', async () => {
    const { ds, ipam } = await setup(ahead);
    await assignEach(ipam, 'a', 11);
    // From here, each claim starts by reading the affinity key of its block; the first (the
    // claim ahead) waits at that read until released.
    let claims = 0;
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const get = ds.get.bind(ds);
    ds.get = (async (key: string) => {
      if (key.startsWith(hostAffinityPrefix('n1', 4)) && ++claims === 1) await gate;
      return get(key);
    }) as typeof ds.get;
    await ipam.autoAssign({ handle: 'b', node: 'n1', num4: 1 }); // 4 left: the claim ahead starts
    const six = ipam.autoAssign({ handle: 'c', node: 'n1', num4: 6 }); // needs a new block
    for (let i = 0; i < 50; i++) await new Promise((resolve) => setImmediate(resolve));
    assert.equal(claims, 1, 'the allocation waits for the claim under way instead of making its own');
    release();
    assert.equal((await six).ipv4.length, 6);
    await ipam.close();
    assert.equal(claims, 1);
    assert.deepEqual(await blocksOf(ds), ['confirmed', 'confirmed']);
  });

  test("a claim ahead takes no other host's empty block, and rests a minute when it finds none", async () => {
    let nowMs = Date.parse('2026-01-01T00:00:00Z');
    const ds = new MemoryDatastore();
    await apply(ds, pool('p', '10.0.0.0/26', { blockSize: 28 }), node('n1'), node('n2'));
    const ipam = new Ipam(ds, { ...ahead, now: () => new Date(nowMs) });
    await assignEach(ipam, 'a', 1); // n1's block
    const claimed = await ipam.claimAffinity({ cidr: '10.0.0.0/26', node: 'n2' }); // the other three, empty
    assert.equal(claimed.claimed.length, 3);
    nowMs += 120_000; // n2's empty blocks could now be taken over by an allocation that needs one
    let listings = 0;
    const list = ds.list.bind(ds);
    ds.list = ((prefix: string, ...rest: unknown[]) => {
      if (prefix.includes('/assignment/')) listings++;
      return (list as (...a: unknown[]) => ReturnType<typeof ds.list>)(prefix, ...rest);
    }) as typeof ds.list;
    await assignEach(ipam, 'b', 11); // 4 left: a claim ahead, which finds no absent block
    await ipam.close();
    assert.deepEqual(await blocksOf(ds, 'n2'), ['confirmed', 'confirmed', 'confirmed'], "n2's spare blocks stay n2's");
    assert.deepEqual(await blocksOf(ds, 'n1'), ['confirmed']);
    assert.equal(listings, 1, 'one claim ahead listed the blocks');
    await assignEach(ipam, 'c', 2);
    await ipam.close();
    assert.equal(listings, 1, 'none again within a minute');
    nowMs += 61_000;
    await assignEach(ipam, 'd', 1);
    await ipam.close();
    assert.equal(listings, 2, 'tried again after a minute');
  });

  test('without the option, the block is claimed only by the allocation that needs it', async () => {
    const { ds, ipam } = await setup({ sleep: async () => {} });
    await assignEach(ipam, 'a', 16);
    await ipam.close();
    assert.deepEqual(await blocksOf(ds), ['confirmed']);
    await assignEach(ipam, 'b', 1);
    assert.deepEqual(await blocksOf(ds), ['confirmed', 'confirmed']);
  });

  test('no claim ahead at maxBlocksPerHost or with autoAllocateBlocks false', async () => {
    const { ds, ipam } = await setup(ahead);
    await ipam.setConfig({ maxBlocksPerHost: 1 });
    await assignEach(ipam, 'a', 15);
    await ipam.close();
    assert.deepEqual(await blocksOf(ds), ['confirmed']);
    await ipam.setConfig({ maxBlocksPerHost: 0, autoAllocateBlocks: false });
    await assignEach(ipam, 'b', 1);
    await ipam.close();
    assert.deepEqual(await blocksOf(ds), ['confirmed']);
  });
});
