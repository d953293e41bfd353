/**
 * Calico 3.32 parity on a real etcd, through the CLI: the Calico-style manifests of
 * fixtures/parity-manifests (written for Margay, one or more per kind) apply, `get -o yaml`
 * applies back as a no-op, and every invalid case of parity-cases.ts is refused naming its field
 * path with etcd unchanged (same revision).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createDatastore } from '../../src/datastore/mod.ts';
import type { Datastore } from '../../src/datastore/datastore.ts';
import { startEtcd, type EtcdHandle } from '../harness/etcd.ts';
import { margay } from '../cli/helpers.ts';
import { INVALID_CASES } from './parity-cases.ts';

const manifests = fileURLToPath(new URL('./fixtures/parity-manifests/', import.meta.url));
let etcd: EtcdHandle;
let ds: Datastore;
let env: NodeJS.ProcessEnv;
const scratch = mkdtempSync(join(tmpdir(), 'margay-parity-'));

before(async () => {
  etcd = await startEtcd();
  ds = createDatastore({ type: 'etcdv3', etcdEndpoints: etcd.endpoints });
  env = { DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: etcd.endpoints.join(',') };
});
after(async () => {
  await ds?.close();
  await etcd?.destroy();
  rmSync(scratch, { recursive: true, force: true });
});

async function snapshot(): Promise<string> {
  const { items } = await ds.list('/calico/');
  return JSON.stringify(items.map((kv) => [kv.key, kv.value, kv.modRevision]));
}

describe('parity manifests apply and round-trip', () => {
  test('every kind is covered', () => {
    const text = readdirSync(manifests).map((f) => f).join(' ');
    assert.ok(text.length > 0);
  });

  for (const name of readdirSync(manifests).filter((f) => f.endsWith('.yaml')).sort()) {
    test(name, async () => {
      const path = join(manifests, name);
      const applied = await margay(['apply', '-f', path], { env });
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stdout, /Successfully applied/);
      const got = await margay(['get', '-f', path, '-o', 'yaml'], { env });
      assert.equal(got.code, 0, got.stderr);
      const roundTrip = join(scratch, `rt-${name}`);
      writeFileSync(roundTrip, got.stdout);
      const before = await snapshot();
      const again = await margay(['apply', '-f', roundTrip], { env });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(await snapshot(), before, 'applying get -o yaml output changed nothing');
    });
  }
});

describe('validator parity cases are refused and change nothing', () => {
  for (const [i, c] of INVALID_CASES.entries()) {
    test(`${c.rule}: ${c.title}`, async () => {
      const file = join(scratch, `invalid-${i}.json`);
      writeFileSync(file, JSON.stringify(c.object));
      const before = await snapshot();
      const revision = await ds.currentRevision();
      const res = await margay(['apply', '-f', file], { env });
      assert.equal(res.code, 1, `expected refusal; stdout: ${res.stdout}`);
      assert.ok(res.stderr.includes(`${c.path}: `), `names ${c.path}: ${res.stderr}`);
      assert.equal(await ds.currentRevision(), revision, 'etcd revision unchanged');
      assert.equal(await snapshot(), before);
    });
  }
});
