/**
 * The conformance samples in ../shared/conformance against a real etcd, through the real CLI:
 * every valid manifest applies unchanged, `get -f FILE -o yaml` applies back as a no-op, the
 * keys follow Calico's layout; every invalid manifest fails naming the file and a field path
 * and leaves etcd unchanged.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { etcdctl } from '../harness/etcd.ts';
import { useEtcdCli } from './etcd-cli.ts';
import { margay } from './helpers.ts';

const here = dirname(fileURLToPath(import.meta.url));
const conformance = resolve(here, '../../../shared/conformance/manifests');
const ownSamples = resolve(here, '../../examples');

if (!existsSync(conformance)) {
  throw new Error(`conformance samples not found at ${conformance} (they come with ../shared beside the checkout)`);
}

const cli = useEtcdCli('margay-conformance-');

const valid = readdirSync(join(conformance, 'valid')).filter((f) => f.endsWith('.yaml')).sort();
const invalid = readdirSync(join(conformance, 'invalid')).filter((f) => f.endsWith('.yaml')).sort();

describe('conformance - valid manifests apply unchanged and round-trip', () => {
  for (const name of valid) {
    test(name, async () => {
      await cli.clearCalico();
      const path = join(conformance, 'valid', name);
      const applied = await margay(['apply', '-f', path], { env: cli.env });
      assert.equal(applied.code, 0, applied.stderr);
      assert.match(applied.stdout, /Successfully applied/);
      const stored = await cli.ds.list('/calico/resources/v3/projectcalico.org/');
      assert.ok(stored.items.length > 0, 'something was stored');
      for (const kv of stored.items) {
        assert.match(kv.key, /^\/calico\/resources\/v3\/projectcalico\.org\/[a-z]+\/([a-z0-9.-]+\/)?[a-z0-9.-]+$/);
        const value = JSON.parse(kv.value);
        assert.equal(value.apiVersion, 'projectcalico.org/v3');
        assert.equal(value.metadata.resourceVersion, undefined, 'resourceVersion is the etcd revision, not stored');
      }
      await cli.assertRoundTrip(path);
    });
  }
});

describe('conformance - invalid manifests are refused with file and field path', () => {
  for (const name of invalid) {
    test(name, async () => {
      await cli.clearCalico();
      const path = join(conformance, 'invalid', name);
      const before = await cli.snapshot();
      const revision = await cli.ds.currentRevision();
      const res = await margay(['apply', '-f', path], { env: cli.env });
      assert.equal(res.code, 1, `expected refusal; stdout: ${res.stdout}`);
      assert.equal(res.stderr.trim().split('\n').length, 1, `one line: ${res.stderr}`);
      assert.ok(res.stderr.includes(path), `names the file: ${res.stderr}`);
      assert.match(res.stderr, /document \d+/);
      assert.match(res.stderr, /(spec|metadata)(\.[A-Za-z0-9]+|\[\d+\]|\["[^"]+"\])*: /, `names a field path: ${res.stderr}`);
      assert.equal(await cli.snapshot(), before);
      assert.equal(await cli.ds.currentRevision(), revision, 'etcd unchanged');
    });
  }
});

describe('conformance - the examples and the key layout', () => {
  test('examples/ apply into etcd with the documented layout (etcdctl)', async () => {
    await cli.clearCalico();
    const res = await margay(['apply', '-f', ownSamples], { env: cli.env });
    assert.equal(res.code, 0, res.stderr);
    const keys = etcdctl(cli.etcd.endpoints, ['get', '--prefix', '/calico/resources/v3', '--keys-only'])
      .split('\n')
      .filter((l) => l.length > 0);
    assert.ok(keys.includes('/calico/resources/v3/projectcalico.org/ippools/default-ipv4-ippool'), keys.join('\n'));
    assert.ok(keys.includes('/calico/resources/v3/projectcalico.org/networkpolicies/shop/api-allow-frontend'));
    assert.ok(keys.includes('/calico/resources/v3/projectcalico.org/profiles/kns.shop'));
    assert.ok(keys.includes('/calico/resources/v3/projectcalico.org/bgpconfigurations/default'));
    assert.ok(keys.some((k) => k.startsWith('/calico/resources/v3/projectcalico.org/workloadendpoints/shop/host--1-k8s-api--0-eth0')), keys.join('\n'));
  });

  test('a directory with one bad document among many writes nothing', async () => {
    await cli.clearCalico();
    const dir = join(cli.scratch, 'mixed');
    rmSync(dir, { recursive: true, force: true });
    const files = readdirSync(ownSamples).filter((f) => f.endsWith('.yaml'));
    for (const f of files) {
      const target = join(dir, f);
      mkdirSync(dirname(target), { recursive: true });
      writeFileSync(target, readFileSync(join(ownSamples, f)));
    }
    writeFileSync(join(dir, '99-bad.yaml'), 'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: bad\nspec:\n  selector: app == \n');
    const revision = await cli.ds.currentRevision();
    const res = await margay(['apply', '-f', dir], { env: cli.env });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /99-bad\.yaml: document 1.*spec\.selector/);
    assert.equal(await cli.ds.currentRevision(), revision);
  });
});
