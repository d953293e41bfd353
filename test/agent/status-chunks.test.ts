/**
 * Why the agent's endpoint statuses may be written in several transactions without undo: each key
 * is a whole statement about one endpoint (`{"status":"up"}`), written with an unconditioned put
 * that is idempotent, and a chunk that failed (refused, or applied without an answer) is not
 * counted as written, so the next flush writes it again. A half-done flush therefore leaves only
 * true, complete keys, and the next one converges on the desired set.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { hostStatusPrefix, StatusReporter, type EndpointStatus } from '../../src/agent/status.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { silentLogger } from '../../src/log/mod.ts';
import { FaultyDatastore, type Fault } from '../datastore/faulty.ts';

const prefix = hostStatusPrefix('no-region', 'h1');

/** 300 endpoint statuses: three transactions of at most 128 puts. */
function desired(status: EndpointStatus): Map<string, EndpointStatus> {
  return new Map(Array.from({ length: 300 }, (_, i) => [`${prefix}endpoint/hep-${String(i).padStart(3, '0')}`, status] as const));
}

async function stored(ds: MemoryDatastore): Promise<Map<string, string>> {
  return new Map((await ds.list(prefix)).items.map((kv) => [kv.key, kv.value]));
}

describe('agent status writes in several transactions', () => {
  for (const fault of ['rejected', 'lost-answer'] as Fault[]) {
    it(`a second transaction ${fault}: only whole, true keys are stored, and the next flush completes the set`, async () => {
      const inner = new MemoryDatastore();
      const ds = new FaultyDatastore(inner, (n) => (n === 2 ? fault : undefined));
      const r = new StatusReporter({ datastore: ds, hostname: 'h1', region: 'no-region', logger: silentLogger(), ttlSeconds: 60, now: () => 1_000_000 });
      r.setEndpointStatuses(desired('up'));
      await assert.rejects(r.flushEndpoints());
      const half = await stored(inner);
      assert.equal(half.size, fault === 'rejected' ? 128 : 256);
      for (const [key, value] of half) assert.equal(value, '{"status":"up"}', key);
      assert.equal(r.endpointsDirty, true, 'the failed transaction is not counted as written');
      await r.flushEndpoints();
      const whole = await stored(inner);
      assert.deepEqual([...whole.keys()].sort(), [...desired('up').keys()].sort());
      assert.ok([...whole.values()].every((v) => v === '{"status":"up"}'));
      assert.equal(r.endpointsDirty, false);
    });
  }
});
