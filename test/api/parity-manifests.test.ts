/**
 * The Calico-style manifests of fixtures/parity-manifests through the CLI on the in-memory
 * datastore (parity.int.test.ts does the same on a real etcd): each applies, `get -o yaml` of it
 * applies back changing nothing, and together they store every kind Margay has.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, it } from 'node:test';
import { allKinds } from '../../src/api/mod.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { margay } from '../cli/helpers.ts';
import { dump } from '../datastore/faulty.ts';

const manifests = fileURLToPath(new URL('./fixtures/parity-manifests/', import.meta.url));
const scratch = mkdtempSync(join(tmpdir(), 'margay-parity-unit-'));
after(() => rmSync(scratch, { recursive: true, force: true }));

describe('parity manifests (in-memory datastore)', () => {
  const ds = new MemoryDatastore();
  for (const name of readdirSync(manifests).filter((f) => f.endsWith('.yaml')).sort()) {
    it(`${name} applies and round-trips through get -o yaml`, async () => {
      const path = join(manifests, name);
      const applied = await margay(['apply', '-f', path], { datastore: ds });
      assert.equal(applied.code, 0, applied.stderr);
      const got = await margay(['get', '-f', path, '-o', 'yaml'], { datastore: ds });
      assert.equal(got.code, 0, got.stderr);
      writeFileSync(join(scratch, name), got.stdout);
      const before = await dump(ds);
      const again = await margay(['apply', '-f', join(scratch, name)], { datastore: ds });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(await dump(ds), before);
    });
  }

  it('stored every kind', async () => {
    const { items } = await ds.list('/calico/resources/v3/projectcalico.org/');
    const plurals = new Set(items.map((kv) => kv.key.split('/')[5]));
    assert.deepEqual(allKinds.map((k) => k.plural).filter((p) => !plurals.has(p)), []);
  });
});
