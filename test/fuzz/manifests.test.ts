/**
 * Fuzz: manifests through the real CLI (`validate`, `apply`, `create`, `replace`, `delete -f`) on
 * the in-memory datastore: mutated documents of every kind, hostile values, damaged text. Every
 * case ends cleanly (exit 0, or one safe line), and a failed write changes nothing. The same on a
 * real etcd, with fewer cases, is in datastore.int.test.ts.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { margay } from '../cli/helpers.ts';
import { dump } from '../datastore/faulty.ts';
import { manifestText, MANIFESTS, runs } from './arbitraries.ts';
import { assertCleanOutcome, Tally } from './checks.ts';

const dir = mkdtempSync(join(tmpdir(), 'margay-fuzz-manifests-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let seq = 0;

/** A store already holding some of the seed manifests, so that updates and conflicts happen too. */
async function seededStore(): Promise<MemoryDatastore> {
  const ds = new MemoryDatastore();
  const path = join(dir, 'seed.json');
  writeFileSync(path, JSON.stringify({ kind: 'List', items: [0, 1, 3, 4, 9].map((i) => MANIFESTS[i]) }));
  const run = await margay(['apply', '-f', path], { datastore: ds });
  assert.equal(run.code, 0, run.stderr);
  return ds;
}

describe('fuzz - manifests through the CLI', () => {
  it('validate and the write verbs: a clean outcome, and nothing written on failure (600 cases)', async () => {
    const ds = await seededStore();
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(manifestText, fc.constantFrom('validate', 'apply', 'apply', 'create', 'replace', 'delete'), async (text, verb) => {
        const path = join(dir, `case-${seq++}.yaml`);
        writeFileSync(path, text);
        const before = await dump(ds);
        const run = await margay([verb, '-f', path], { datastore: ds });
        assertCleanOutcome(run, `${verb} -f ${JSON.stringify(text.slice(0, 300))}`);
        if (run.code !== 0 || verb === 'validate') assert.equal(await dump(ds), before, `${verb} failed or only validated, yet the datastore changed`);
        tally.add(`${verb} ${run.code === 0 ? 'ok' : 'refused'}`);
      }),
      runs(600),
    );
    console.log(`# manifests: ${tally.total} cases: ${tally}`);
    assert.ok((tally.counts.get('apply ok') ?? 0) > 0 && (tally.counts.get('apply refused') ?? 0) > 0, 'both outcomes reached');
  });
});
