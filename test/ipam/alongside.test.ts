/**
 * IPAM's `alongside` key (a CNI ADD's WorkloadEndpoint written in its address's transaction) and
 * the release that reads settings and handle at once: the key and the addresses exist together
 * or not at all, whatever fails; concurrent requests never share an address; a round that meets
 * a conflicting write is redone without the keys, and the caller is told.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { TxnOp } from '../../src/datastore/datastore.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { blockProblems } from '../../src/ipam/block.ts';
import { Ipam, type IpamOptions } from '../../src/ipam/ipam.ts';
import { blockKey, handleKey } from '../../src/ipam/keys.ts';
import { parseCidr } from '../../src/net/mod.ts';
import { FaultyDatastore, type Fault } from '../datastore/faulty.ts';
import { apply, node, pool } from './helpers.ts';

const fast: IpamOptions = { sleep: async () => {} };
const KEYS = '/margay-test/endpoint/';

/** An alongside key for `handle`: its value lists the addresses it was given. */
function endpointOf(handle: string): (addresses: string[]) => TxnOp {
  return (addresses) => ({ op: 'put', key: `${KEYS}${handle}`, value: JSON.stringify(addresses) });
}

async function setup(): Promise<{ ds: MemoryDatastore; ipam: Ipam }> {
  const ds = new MemoryDatastore();
  await apply(ds, pool('v4', '10.0.0.0/16'), pool('v6', 'fd00::/120', { blockSize: 122 }), node('n1'), node('n2'));
  return { ds, ipam: new Ipam(ds, fast) };
}

/** Every alongside key's addresses, by handle. */
async function keysWritten(ds: MemoryDatastore): Promise<Map<string, string[]>> {
  const { items } = await ds.list(KEYS);
  return new Map(items.map((kv) => [kv.key.slice(KEYS.length), (JSON.parse(kv.value) as string[]).sort()]));
}

/** Every handle's addresses, as its blocks hold them. */
async function held(ipam: Ipam): Promise<Map<string, string[]>> {
  const snap = await ipam.snapshot();
  const out = new Map<string, string[]>();
  for (const handle of snap.handles.keys()) out.set(handle, (await ipam.ipsByHandle(handle)).sort());
  for (const e of snap.blocks.values()) assert.deepEqual(blockProblems(e.block, e.cidr), [], e.block.cidr);
  return out;
}

describe('ipam - a key written alongside the addresses', () => {
  test('one family: block, handle and key in one transaction; dual stack: with the last address', async () => {
    const { ds, ipam } = await setup();
    const r = await ipam.autoAssign({ handle: 'h4', node: 'n1', num4: 1, alongside: endpointOf('h4') });
    const key = await ds.get(`${KEYS}h4`);
    assert.ok(r.alongsideRevision !== undefined);
    assert.equal(key?.modRevision, r.alongsideRevision);
    assert.equal((await ds.get(blockKey(parseCidr(r.ipv4[0]!.block)!)))?.modRevision, r.alongsideRevision);
    assert.equal((await ds.get(handleKey('h4')))?.modRevision, r.alongsideRevision);
    assert.deepEqual(JSON.parse(key!.value), [r.ipv4[0]!.address]);

    const d = await ipam.autoAssign({ handle: 'h46', node: 'n1', num4: 1, num6: 1, alongside: endpointOf('h46') });
    assert.deepEqual(JSON.parse((await ds.get(`${KEYS}h46`))!.value), [d.ipv4[0]!.address, d.ipv6[0]!.address]);
    assert.equal((await ds.get(blockKey(parseCidr(d.ipv6[0]!.block)!)))?.modRevision, d.alongsideRevision);
  });

  for (const cacheReads of [false, true]) {
  test(`300 concurrent requests${cacheReads ? ' (reads cached)' : ''}: no address shared, each key names exactly its handle’s addresses, group commits stay within the op limit`, async () => {
    const { ds } = await setup();
    const sizes: number[] = [];
    const counting = new FaultyDatastore(ds, (_n, ops) => {
      sizes.push(ops.length);
      return undefined;
    });
    const ipam = new Ipam(counting, { ...fast, cacheReads });
    // Warm (with the cache: the reads of the burst are copies).
    await ipam.autoAssign({ handle: 'warm', node: 'n1', num4: 1 });
    await ipam.releaseByHandle('warm');
    const results = await Promise.all(
      Array.from({ length: 300 }, (_, i) => ipam.autoAssign({ handle: `c${i}`, node: i % 3 ? 'n1' : 'n2', num4: 1, num6: i % 5 ? 0 : 1, alongside: endpointOf(`c${i}`) })),
    );
    const addresses = results.flatMap((r) => [...r.ipv4, ...r.ipv6].map((a) => a.address));
    assert.equal(new Set(addresses).size, addresses.length, 'no address handed out twice');
    assert.ok(results.every((r) => r.alongsideRevision !== undefined), 'no conflict in one process: every key went with its addresses');
    const keys = await keysWritten(ds);
    assert.equal(keys.size, 300);
    assert.deepEqual(keys, await held(new Ipam(ds, fast)));
    assert.ok(Math.max(...sizes) > 3, 'requests were committed together');
    assert.ok(Math.max(...sizes) <= 128, `at most 128 operations per transaction (saw ${Math.max(...sizes)})`);
    await ipam.close();
  });
  }

  test('a round that meets another writer is redone with the key; a conditional key that fails is left to the caller', async () => {
    const { ds, ipam } = await setup();
    await ipam.autoAssign({ handle: 'first', node: 'n1', num4: 1 }); // this client now keeps the block
    await new Ipam(ds.peer(), fast).autoAssign({ handle: 'other', node: 'n1', num4: 1 }); // and it changes under it
    const r = await ipam.autoAssign({ handle: 'late', node: 'n1', num4: 1, alongside: endpointOf('late') });
    assert.equal((await ds.get(`${KEYS}late`))?.modRevision, r.alongsideRevision, 'an unconditional key goes with the retry');
    assert.deepEqual((await keysWritten(ds)).get('late'), [r.ipv4[0]!.address]);

    await ds.create(`${KEYS}taken`, '[]');
    const create = (addresses: string[]): TxnOp => ({ op: 'create', key: `${KEYS}taken`, value: JSON.stringify(addresses) });
    const t = await ipam.autoAssign({ handle: 'taken', node: 'n1', num4: 1, alongside: create });
    assert.equal(t.alongsideRevision, undefined, 'the caller is told to write it itself');
    assert.equal((await ds.get(`${KEYS}taken`))?.value, '[]');
    assert.deepEqual(await ipam.ipsByHandle('taken'), [t.ipv4[0]!.address]);
    assert.equal(new Set([...(await held(ipam)).values()].map((a) => a[0])).size, 4);
  });

  for (const fault of ['rejected', 'lost-request', 'lost-answer', 'outage'] as Fault[]) {
    test(`a transaction that fails (${fault}): the key exists exactly when its addresses do`, async () => {
      const ds = new MemoryDatastore();
      await apply(ds, pool('v4', '10.0.0.0/16'), pool('v6', 'fd00::/120', { blockSize: 122 }), node('n1'));
      const faulty = new FaultyDatastore(ds, (_n, ops) => (ops.some((op) => op.key.startsWith(KEYS)) ? fault : undefined));
      const ipam = new Ipam(faulty, fast);
      await ipam.autoAssign({ handle: 'before', node: 'n1', num4: 1 });
      await assert.rejects(ipam.autoAssign({ handle: 'h', node: 'n1', num4: 1, num6: 1, alongside: endpointOf('h') }));
      faulty.recover();
      const keys = await keysWritten(ds);
      const holding = await held(new Ipam(ds, fast));
      if (fault === 'lost-answer') assert.deepEqual(keys.get('h'), holding.get('h'), 'applied: the key and every address it names');
      else assert.equal(keys.get('h'), undefined);
      // Refused: the first transaction's address is rolled back. An unknown outcome leaves the
      // release to the caller (releaseByHandle once its key is gone), and nothing names it.
      if (fault === 'rejected') assert.equal(holding.get('h'), undefined);
      await new Ipam(ds, fast).releaseByHandle('h');
      assert.equal((await held(new Ipam(ds, fast))).get('h'), undefined);
      assert.equal(holding.get('before')?.length, 1);
    });
  }
});

describe('ipam - a request for a new handle', () => {
  test('creates the handle without reading it; one that exists is left as it is and nothing is allocated, beside requests that go on', async () => {
    const { ds } = await setup();
    const reads: string[] = [];
    const counting = new FaultyDatastore(ds, () => undefined);
    const { get } = counting;
    counting.get = (key) => (reads.push(key), get.call(counting, key));
    const ipam = new Ipam(counting, fast);
    const first = await ipam.autoAssign({ handle: 'h', node: 'n1', num4: 1, num6: 1, newHandle: true, alongside: endpointOf('h') });
    assert.equal(first.handleExists, undefined);
    assert.equal(reads.filter((k) => k === handleKey('h')).length, 1, 'read once: by the second family’s write, not before');
    const before = await held(ipam);
    const [again, other] = await Promise.all([
      ipam.autoAssign({ handle: 'h', node: 'n1', num4: 1, num6: 1, newHandle: true, alongside: endpointOf('h') }),
      ipam.autoAssign({ handle: 'o', node: 'n1', num4: 1, newHandle: true }),
    ]);
    assert.deepEqual([again.handleExists, again.ipv4, again.ipv6], [true, [], []]);
    assert.equal(other.ipv4.length, 1);
    const after = await held(ipam);
    assert.deepEqual(after.get('h'), before.get('h'), 'the existing handle keeps exactly what it had');
    assert.deepEqual((await keysWritten(ds)).get('h'), before.get('h'));
    assert.equal(new Set([...after.values()].flat()).size, 3);
  });
});

describe('ipam - release by handle', () => {
  test('one read (settings and handle) and one transaction; the handle is gone, the address free', async () => {
    const { ds } = await setup();
    const calls: string[] = [];
    const counting = new FaultyDatastore(ds, () => {
      calls.push('txn');
      return undefined;
    });
    const ipam = new Ipam(counting, fast);
    const r = await ipam.autoAssign({ handle: 'h', node: 'n1', num4: 1 });
    const { getMany, get } = counting;
    counting.getMany = (reads) => (calls.push('getMany'), getMany.call(counting, reads));
    counting.get = (key) => (calls.push('get'), get.call(counting, key));
    calls.length = 0;
    assert.deepEqual(await ipam.releaseByHandle('h'), [r.ipv4[0]!.address]);
    assert.deepEqual(calls, ['getMany', 'txn']);
    assert.equal(await ds.get(handleKey('h')), undefined);
    assert.equal((await held(ipam)).size, 0);
  });

  test('notBefore: nothing is written until it resolves, nothing at all when it rejects', async () => {
    const { ds, ipam } = await setup();
    const r = await ipam.autoAssign({ handle: 'h', node: 'n1', num4: 1 });
    await assert.rejects(ipam.releaseByHandle('h', { notBefore: Promise.reject(new Error('the interface is still there')) }), /still there/);
    assert.deepEqual(await ipam.ipsByHandle('h'), [r.ipv4[0]!.address]);
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    const releasing = ipam.releaseByHandle('h', { notBefore: gate });
    await new Promise((resolve) => setTimeout(resolve, 20));
    assert.deepEqual(await ipam.ipsByHandle('h'), [r.ipv4[0]!.address], 'held while the gate is closed');
    open();
    assert.deepEqual(await releasing, [r.ipv4[0]!.address]);
    assert.equal(await ds.get(handleKey('h')), undefined);
  });

  test('a handle changed since it was read: the release reads it again and still deletes it', async () => {
    const { ds } = await setup();
    const ipam = new Ipam(ds, fast);
    await ipam.autoAssign({ handle: 'h', node: 'n1', num4: 1 });
    let touched = false;
    const racing = new FaultyDatastore(ds, () => undefined);
    const { getMany } = racing;
    racing.getMany = async (reads) => {
      const out = await getMany.call(racing, reads);
      if (!touched && reads.some((r) => 'key' in r && r.key === handleKey('h'))) {
        touched = true;
        const kv = (await ds.get(handleKey('h')))!;
        await ds.update(kv.key, kv.value, kv.modRevision); // same record, new revision
      }
      return out;
    };
    const releasing = new Ipam(racing, fast);
    assert.equal((await releasing.releaseByHandle('h')).length, 1);
    assert.ok(touched);
    assert.equal(await ds.get(handleKey('h')), undefined);
  });
});
