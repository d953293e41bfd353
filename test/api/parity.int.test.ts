/**
 * Calico 3.32 parity on a real etcd, through the CLI: the Calico-style manifests of
 * fixtures/parity-manifests (written for Margay, one or more per kind) apply, `get -o yaml`
 * applies back as a no-op, and every invalid case of parity-cases.ts is refused naming its field
 * path with etcd unchanged (same revision).
 */
import assert from 'node:assert/strict';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { allKinds } from '../../src/api/mod.ts';
import { useEtcdCli } from '../cli/etcd-cli.ts';
import { margay } from '../cli/helpers.ts';
import { INVALID_CASES } from './parity-cases.ts';

const manifests = fileURLToPath(new URL('./fixtures/parity-manifests/', import.meta.url));
const cli = useEtcdCli('margay-parity-');

describe('parity manifests apply and round-trip', () => {
  for (const name of readdirSync(manifests).filter((f) => f.endsWith('.yaml')).sort()) {
    test(name, async () => {
      const path = join(manifests, name);
      const applied = await margay(['apply', '-f', path], { env: cli.env });
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stdout, /Successfully applied/);
      await cli.assertRoundTrip(path);
    });
  }
});

describe('coverage', () => {
  test('the manifests stored every projectcalico.org/v3 kind Margay has', async () => {
    const { items } = await cli.ds.list('/calico/resources/v3/projectcalico.org/');
    const plurals = new Set(items.map((kv) => kv.key.split('/')[5]));
    assert.deepEqual(allKinds.map((k) => k.plural).filter((p) => !plurals.has(p)), []);
  });
});

describe('validator parity cases are refused and change nothing', () => {
  for (const [i, c] of INVALID_CASES.entries()) {
    test(`${c.rule}: ${c.title}`, async () => {
      const file = join(cli.scratch, `invalid-${i}.json`);
      writeFileSync(file, JSON.stringify(c.object));
      const before = await cli.snapshot();
      const revision = await cli.ds.currentRevision();
      const res = await margay(['apply', '-f', file], { env: cli.env });
      assert.equal(res.code, 1, `expected refusal; stdout: ${res.stdout}`);
      assert.ok(res.stderr.includes(`${c.path}: `), `names ${c.path}: ${res.stderr}`);
      assert.equal(await cli.ds.currentRevision(), revision, 'etcd revision unchanged');
      assert.equal(await cli.snapshot(), before);
    });
  }
});
