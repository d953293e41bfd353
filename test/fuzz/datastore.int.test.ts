/**
 * Fuzz against a real etcd: a failed command leaves etcd exactly as it was.
 *  - mutated manifests through `margay apply/create/replace/delete -f`: on failure every key, value
 *    and revision, and the store's revision itself, are unchanged (nothing was written at all);
 *  - random batches of creates, updates and deletes of up to 400 resources (chains of up to five
 *    transactions) with a fault injected into a random transaction (refused, lost, or applied but
 *    unanswered): the batch either applies whole or leaves every key as it was, and no marker.
 * Kept small (well under a minute); the in-memory suites run many more cases.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import type { Resource } from '../../src/api/resource.ts';
import { validateResource } from '../../src/api/validate.ts';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { BATCH_MARKERS_PREFIX, BATCHES_PREFIX } from '../../src/datastore/keys.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import { margay } from '../cli/helpers.ts';
import { dump, FaultyDatastore, type Fault } from '../datastore/faulty.ts';
import { startEtcd, type EtcdHandle } from '../harness/etcd.ts';
import { manifestText, MANIFESTS, runs } from './arbitraries.ts';
import { assertCleanOutcome, Tally } from './checks.ts';

let etcd: EtcdHandle;
let ds: EtcdDatastore;
const dir = mkdtempSync(join(tmpdir(), 'margay-fuzz-etcd-'));
let seq = 0;

before(async () => {
  etcd = await startEtcd({ extraArgs: ['--max-txn-ops=128'] });
  ds = new EtcdDatastore({ endpoints: etcd.endpoints });
});
after(async () => {
  await ds?.close();
  await etcd?.destroy();
  rmSync(dir, { recursive: true, force: true });
});

function policy(name: string, version: number): Resource {
  return validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name }, spec: { selector: `v == "${version}"` } });
}

describe('fuzz - a real etcd is unchanged by a failed command', () => {
  it('manifests through the CLI: a failure writes nothing, revision included (80 cases)', { timeout: 120_000 }, async () => {
    const seed = join(dir, 'seed.json');
    writeFileSync(seed, JSON.stringify({ kind: 'List', items: [0, 1, 3, 4, 9].map((i) => MANIFESTS[i]) }));
    assert.equal((await margay(['apply', '-f', seed], { datastore: ds })).code, 0);
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(manifestText, fc.constantFrom('apply', 'create', 'replace', 'delete'), async (text, verb) => {
        const path = join(dir, `case-${seq++}.yaml`);
        writeFileSync(path, text);
        const [before, revision] = [await dump(ds), await ds.currentRevision()];
        const run = await margay([verb, '-f', path], { datastore: ds });
        assertCleanOutcome(run, `${verb} -f ${JSON.stringify(text.slice(0, 300))}`);
        if (run.code !== 0) {
          assert.equal(await ds.currentRevision(), revision, `${verb} failed, yet etcd's revision moved`);
          assert.equal(await dump(ds), before, `${verb} failed, yet etcd changed`);
        }
        tally.add(`${verb} ${run.code === 0 ? 'ok' : 'refused'}`);
      }),
      runs(80),
    );
    console.log(`# etcd, manifests: ${tally.total} cases: ${tally}`);
  });

  it('batches larger than one transaction with a fault anywhere: whole, or as before (25 cases)', { timeout: 120_000 }, async () => {
    const tally = new Tally();
    let round = 0;
    const batch = fc.record({
      existing: fc.integer({ min: 0, max: 150 }),
      updates: fc.nat(),
      deletes: fc.nat(),
      creates: fc.integer({ min: 1, max: 400 }),
      failAt: fc.integer({ min: 1, max: 6 }),
      fault: fc.constantFrom<Fault>('rejected', 'lost-request', 'lost-answer'),
    });
    await fc.assert(
      fc.asyncProperty(batch, async (b) => {
        const prefix = `r${round++}-`;
        const store = new ResourceStore(ds);
        const existing = Array.from({ length: b.existing }, (_, i) => policy(`${prefix}old-${i}`, 1));
        if (existing.length > 0) await store.batch('apply', existing);
        const updates = existing.slice(0, b.updates % (b.existing + 1)).map((r) => policy(r.metadata.name, 2));
        const deletes = existing.slice(updates.length, updates.length + (b.deletes % (b.existing - updates.length + 1)));
        const creates = Array.from({ length: b.creates }, (_, i) => policy(`${prefix}new-${i}`, 2));
        const before = await dump(ds, '/calico/');
        const faulty = new FaultyDatastore(ds, (n) => (n === b.failAt ? b.fault : undefined));
        const fstore = new ResourceStore(faulty);
        let outcome: string;
        try {
          await fstore.batch('apply', [...updates, ...creates]);
          if (deletes.length > 0) await fstore.batch('delete', deletes);
          outcome = 'applied';
        } catch (err) {
          outcome = `refused (${(err as { code?: string }).code})`;
        }
        const names = new Set((await ds.list('/calico/resources/v3/projectcalico.org/globalnetworkpolicies/')).items.map((kv) => kv.key.split('/').pop()!));
        assert.deepEqual((await ds.list(BATCH_MARKERS_PREFIX)).items, [], 'no batch marker left');
        assert.deepEqual((await ds.list(BATCHES_PREFIX)).items, [], 'no owner key or undo record left');
        if (outcome !== 'applied') {
          // The apply failed (nothing of it left), or the delete after it did (the apply stands).
          const applyStood = creates.every((c) => names.has(c.metadata.name));
          if (!applyStood) assert.equal(await dump(ds, '/calico/'), before, `${JSON.stringify(b)}: ${outcome}, yet etcd changed`);
          else for (const d of deletes) assert.ok(names.has(d.metadata.name), `${JSON.stringify(b)}: a failed delete removed ${d.metadata.name}`);
        } else {
          for (const c of creates) assert.ok(names.has(c.metadata.name), `${JSON.stringify(b)}: ${c.metadata.name} missing`);
          for (const d of deletes) assert.ok(!names.has(d.metadata.name), `${JSON.stringify(b)}: ${d.metadata.name} not deleted`);
        }
        tally.add(outcome);
      }),
      runs(25),
    );
    console.log(`# etcd, faulty batches: ${tally.total} cases: ${tally}`);
  });
});
