/**
 * The conformance samples in ../shared/conformance against a real etcd, through the real CLI:
 * every valid manifest applies unchanged, `get -f FILE -o yaml` applies back as a no-op, the
 * keys follow Calico's layout; every invalid manifest fails naming the file and a field path
 * and leaves etcd unchanged.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { createDatastore } from '../../src/datastore/mod.ts';
import type { Datastore } from '../../src/datastore/datastore.ts';
import { etcdctl, startEtcd, type EtcdHandle } from '../harness/etcd.ts';
import { margay } from './helpers.ts';

const here = dirname(fileURLToPath(import.meta.url));
const conformance = resolve(here, '../../../shared/conformance/manifests');
const ownSamples = resolve(here, '../../examples');

if (!existsSync(conformance)) {
  throw new Error(`conformance samples not found at ${conformance} (they come with ../shared beside the checkout)`);
}

let etcd: EtcdHandle;
let ds: Datastore;
let env: NodeJS.ProcessEnv;
const scratch = mkdtempSync(join(tmpdir(), 'margay-conformance-'));

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

async function clearCalico(): Promise<void> {
  const { items } = await ds.list('/calico/');
  for (let i = 0; i < items.length; i += 100) {
    await ds.txn(items.slice(i, i + 100).map((kv) => ({ op: 'delete' as const, key: kv.key })));
  }
}

async function snapshot(): Promise<string> {
  const { items } = await ds.list('/calico/');
  return JSON.stringify(items.map((kv) => [kv.key, kv.value, kv.modRevision]));
}

const valid = readdirSync(join(conformance, 'valid')).filter((f) => f.endsWith('.yaml')).sort();
const invalid = readdirSync(join(conformance, 'invalid')).filter((f) => f.endsWith('.yaml')).sort();

describe('conformance - valid manifests apply unchanged and round-trip', () => {
  for (const name of valid) {
    test(name, async () => {
      await clearCalico();
      const path = join(conformance, 'valid', name);
      const applied = await margay(['apply', '-f', path], { env });
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stdout, /Successfully applied/);
      const stored = await ds.list('/calico/resources/v3/projectcalico.org/');
      assert.ok(stored.items.length > 0, 'something was stored');
      for (const kv of stored.items) {
        assert.match(kv.key, /^\/calico\/resources\/v3\/projectcalico\.org\/[a-z]+\/([a-z0-9.-]+\/)?[a-z0-9.-]+$/);
        const value = JSON.parse(kv.value);
        assert.equal(value.apiVersion, 'projectcalico.org/v3');
        assert.equal(value.metadata.resourceVersion, undefined, 'resourceVersion is the etcd revision, not stored');
      }
      const got = await margay(['get', '-f', path, '-o', 'yaml'], { env });
      assert.equal(got.code, 0, got.stderr);
      const roundTrip = join(scratch, `rt-${name}`);
      writeFileSync(roundTrip, got.stdout);
      const before = await snapshot();
      const again = await margay(['apply', '-f', roundTrip], { env });
      assert.equal(again.code, 0, again.stderr);
      assert.equal(await snapshot(), before, 'applying get -o yaml output changed nothing');
      const reapply = await margay(['apply', '-f', path], { env });
      assert.equal(reapply.code, 0, reapply.stderr);
      assert.equal(await snapshot(), before, 'applying the original again changed nothing');
    });
  }
});

describe('conformance - invalid manifests are refused with file and field path', () => {
  for (const name of invalid) {
    test(name, async () => {
      await clearCalico();
      const path = join(conformance, 'invalid', name);
      const before = await snapshot();
      const revision = await ds.currentRevision();
      const res = await margay(['apply', '-f', path], { env });
      assert.equal(res.code, 1, `expected refusal; stdout: ${res.stdout}`);
      assert.equal(res.stderr.trim().split('\n').length, 1, `one line: ${res.stderr}`);
      assert.ok(res.stderr.includes(path), `names the file: ${res.stderr}`);
      assert.match(res.stderr, /document \d+/);
      assert.match(res.stderr, /(spec|metadata)(\.[A-Za-z0-9]+|\[\d+\]|\["[^"]+"\])*: /, `names a field path: ${res.stderr}`);
      assert.equal(await snapshot(), before);
      assert.equal(await ds.currentRevision(), revision, 'etcd unchanged');
    });
  }
});

describe('conformance - the examples and the key layout', () => {
  test('examples/ apply into etcd with the documented layout (etcdctl)', async () => {
    await clearCalico();
    const res = await margay(['apply', '-f', ownSamples], { env });
    assert.equal(res.code, 0, res.stderr);
    const keys = etcdctl(etcd.endpoints, ['get', '--prefix', '/calico/resources/v3', '--keys-only'])
      .split('\n')
      .filter((l) => l.length > 0);
    assert.ok(keys.includes('/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool'), keys.join('\n'));
    assert.ok(keys.includes('/calico/resources/v3/projectcalico.org/networkpolicies/shop/api-allow-frontend'));
    assert.ok(keys.includes('/calico/resources/v3/projectcalico.org/profiles/kns.shop'));
    assert.ok(keys.includes('/calico/resources/v3/projectcalico.org/bgpconfigurations/default'));
    assert.ok(keys.some((k) => k.startsWith('/calico/resources/v3/projectcalico.org/workloadendpoints/shop/host--1-k8s-api--0-eth0')), keys.join('\n'));
  });

  test('a directory with one bad document among many writes nothing', async () => {
    await clearCalico();
    const dir = join(scratch, 'mixed');
    rmSync(dir, { recursive: true, force: true });
    const files = readdirSync(ownSamples).filter((f) => f.endsWith('.yaml'));
    for (const f of files) {
      const target = join(dir, f);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, readFileSync(join(ownSamples, f)));
    }
    writeFileSync(join(dir, '99-bad.yaml'), 'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: bad\nspec:\n  selector: app == \n');
    const revision = await ds.currentRevision();
    const res = await margay(['apply', '-f', dir], { env });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /99-bad\.yaml: document 1.*spec\.selector/);
    assert.equal(await ds.currentRevision(), revision);
  });
});
