import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { mergePatch } from '../../src/cli/commands/edit-verbs.ts';
import { datastoreTimeout } from '../../src/cli/config.ts';
import { hasCode } from '../../src/errors/mod.ts';
import { margay } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'margay-cli-test-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(name: string, text: string): string {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
}

const pool = (name: string, cidr: string) => `apiVersion: projectcalico.org/v3
kind: IPPool
metadata:
  name: ${name}
spec:
  cidr: ${cidr}
`;

describe('cli - resource verbs', () => {
  test('apply then get -o yaml then apply is a no-op', async () => {
    const ds = new MemoryDatastore();
    const f = file('pools.yaml', `${pool('p1', '10.1.0.0/16')}---\n${pool('p2', '10.2.0.0/16')}`);
    const applied = await margay(['apply', '-f', f], { datastore: ds });
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /Successfully applied 2 'IPPool' resource\(s\)/);
    const before = await ds.currentRevision();
    const got = await margay(['get', 'ippools', '-o', 'yaml'], { datastore: ds });
    assert.equal(got.code, 0, got.stderr);
    assert.match(got.stdout, /kind: IPPoolList/);
    const again = await margay(['apply', '-f', file('back.yaml', got.stdout)], { datastore: ds });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await ds.currentRevision(), before, 'applying the output again wrote nothing');
  });

  test('a batch with one invalid document writes nothing and names file, document and field', async () => {
    const ds = new MemoryDatastore();
    const f = file('mixed.yaml', `${pool('ok', '10.1.0.0/16')}---\n${pool('bad', '10.2.0.0/16')}  blockSize: 40\n`);
    const res = await margay(['apply', '-f', f], { datastore: ds });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /mixed\.yaml: document 2/);
    assert.match(res.stderr, /spec\.blockSize/);
    assert.equal(res.stderr.trim().split('\n').length, 1, 'one line');
    assert.equal((await ds.list('/calico/')).items.length, 0);
  });

  test('overlapping pools are refused, against the store and within a batch', async () => {
    const ds = new MemoryDatastore();
    assert.equal((await margay(['apply', '-f', file('a.yaml', pool('a', '10.0.0.0/16'))], { datastore: ds })).code, 0);
    const res = await margay(['apply', '-f', file('b.yaml', pool('b', '10.0.128.0/17'))], { datastore: ds });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /b\.yaml/);
    assert.match(res.stderr, /spec\.cidr/);
    const both = await margay(['apply', '-f', file('c.yaml', `${pool('c', '10.5.0.0/16')}---\n${pool('d', '10.5.1.0/24')}`)], { datastore: ds });
    assert.equal(both.code, 1);
    assert.equal((await ds.list('/calico/resources/v3/projectcalico.org/ippools/')).items.length, 1);
  });

  test('create fails on an existing resource unless --skip-exists', async () => {
    const ds = new MemoryDatastore();
    const f = file('p.yaml', pool('p', '10.9.0.0/16'));
    assert.equal((await margay(['create', '-f', f], { datastore: ds })).code, 0);
    const dup = await margay(['create', '-f', f], { datastore: ds });
    assert.equal(dup.code, 1);
    assert.match(dup.stderr, /already exists/);
    assert.equal((await margay(['create', '-f', f, '--skip-exists'], { datastore: ds })).code, 0);
  });

  test('replace needs an existing resource; delete by name and --skip-not-exists', async () => {
    const ds = new MemoryDatastore();
    const f = file('r.yaml', pool('r', '10.8.0.0/16'));
    assert.equal((await margay(['replace', '-f', f], { datastore: ds })).code, 1);
    assert.equal((await margay(['apply', '-f', f], { datastore: ds })).code, 0);
    assert.equal((await margay(['replace', '-f', f], { datastore: ds })).code, 0);
    assert.equal((await margay(['delete', 'ippool', 'r'], { datastore: ds })).code, 0);
    assert.equal((await margay(['delete', 'ipp', 'r'], { datastore: ds })).code, 1);
    assert.equal((await margay(['delete', 'pools', 'r', '--skip-not-exists'], { datastore: ds })).code, 0);
  });

  test('immutable fields cannot change on update', async () => {
    const ds = new MemoryDatastore();
    assert.equal((await margay(['apply', '-f', file('i1.yaml', pool('imm', '10.7.0.0/16'))], { datastore: ds })).code, 0);
    const res = await margay(['apply', '-f', file('i2.yaml', pool('imm', '10.6.0.0/16'))], { datastore: ds });
    assert.equal(res.code, 1);
    assert.match(res.stderr, /spec\.cidr.*immutable/);
  });

  test('get: table, wide, names, aliases, unknown kinds and missing names', async () => {
    const ds = new MemoryDatastore();
    await margay(['apply', '-f', file('g.yaml', pool('g1', '10.11.0.0/16'))], { datastore: ds });
    const table = await margay(['get', 'ipp'], { datastore: ds });
    assert.equal(table.code, 0, table.stderr);
    assert.match(table.stdout, /^NAME\s+CIDR/m);
    assert.match(table.stdout, /g1\s+10\.11\.0\.0\/16/);
    const one = await margay(['get', 'IPPool', 'g1', '-o', 'json'], { datastore: ds });
    assert.equal(JSON.parse(one.stdout).metadata.name, 'g1');
    const bad = await margay(['get', 'nosuchkind'], { datastore: ds });
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /not supported/);
    const missing = await margay(['get', 'ippool', 'nope'], { datastore: ds });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /does not exist/);
    const fmt = await margay(['get', 'ippool', '-o', 'xml'], { datastore: ds });
    assert.equal(fmt.code, 1);
    assert.match(fmt.stderr, /Allowed choices are ps, wide, yaml, json/);
  });

  test('namespaced kinds: -n, -A and the default namespace', async () => {
    const ds = new MemoryDatastore();
    const np = (ns: string) => `apiVersion: projectcalico.org/v3\nkind: NetworkPolicy\nmetadata:\n  name: web\n  namespace: ${ns}\nspec:\n  selector: app == 'web'\n`;
    assert.equal((await margay(['apply', '-f', file('np.yaml', `${np('a')}---\n${np('b')}`)], { datastore: ds })).code, 0);
    const all = await margay(['get', 'networkpolicies', '-A'], { datastore: ds });
    assert.match(all.stdout, /^NAMESPACE\s+NAME/m);
    assert.equal(all.stdout.trim().split('\n').length, 3);
    const inA = await margay(['get', 'networkpolicy', 'web', '-n', 'a', '-o', 'yaml'], { datastore: ds });
    assert.match(inA.stdout, /namespace: a/);
    const inDefault = await margay(['get', 'networkpolicies'], { datastore: ds });
    assert.equal(inDefault.stdout.trim().split('\n').length, 1, 'only headers in namespace default');
  });

  test('patch and label re-validate and write', async () => {
    const ds = new MemoryDatastore();
    await margay(['apply', '-f', file('pl.yaml', pool('pl', '10.12.0.0/16'))], { datastore: ds });
    assert.equal((await margay(['patch', 'ippool', 'pl', '-p', '{"spec":{"disabled":true}}'], { datastore: ds })).code, 0);
    const got = JSON.parse((await margay(['get', 'ippool', 'pl', '-o', 'json'], { datastore: ds })).stdout);
    assert.equal(got.spec.disabled, true);
    const badPatch = await margay(['patch', 'ippool', 'pl', '-p', '{"spec":{"blockSize":99}}'], { datastore: ds });
    assert.equal(badPatch.code, 1);
    assert.match(badPatch.stderr, /spec\.blockSize/);
    assert.equal((await margay(['label', 'ippool', 'pl', 'zone=a'], { datastore: ds })).code, 0);
    const clash = await margay(['label', 'ippool', 'pl', 'zone=b'], { datastore: ds });
    assert.equal(clash.code, 1);
    assert.match(clash.stderr, /--overwrite/);
    assert.equal((await margay(['label', 'ippool', 'pl', 'zone=b', '--overwrite'], { datastore: ds })).code, 0);
    assert.equal((await margay(['label', 'ippool', 'pl', 'zone', '--remove'], { datastore: ds })).code, 0);
    const final = JSON.parse((await margay(['get', 'ippool', 'pl', '-o', 'json'], { datastore: ds })).stdout);
    assert.deepEqual(final.metadata.labels ?? {}, {});
  });

  test('validate checks without a datastore; decode errors give the line', async () => {
    const ok = await margay(['validate', '-f', file('v.yaml', pool('v', '10.13.0.0/16'))]);
    assert.equal(ok.code, 0, ok.stderr);
    const broken = await margay(['validate', '-f', file('broken.yaml', 'apiVersion: projectcalico.org/v3\nkind: [oops\n')]);
    assert.equal(broken.code, 1);
    assert.match(broken.stderr, /broken\.yaml: line \d+/);
    const missing = await margay(['validate', '-f', join(dir, 'nope.yaml')]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /no such file/);
  });

  test('version and usage errors', async () => {
    const v = await margay(['version']);
    assert.equal(v.code, 0);
    assert.match(v.stdout, /Client Version:\s+v\d/);
    const bad = await margay(['frobnicate']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /unknown command/);
  });

  test('configuration file errors name the file and field', async () => {
    const cfg = file('bad.cfg', 'apiVersion: projectcalico.org/v3\nkind: CalicoAPIConfig\nspec:\n  datastoreType: zookeeper\n');
    const res = await margay(['-c', cfg, 'get', 'ippools']);
    assert.equal(res.code, 1);
    assert.match(res.stderr, /bad\.cfg: spec\.datastoreType/);
  });
});

describe('cli - merge patch', () => {
  test('objects merge, null deletes, arrays replace', () => {
    assert.deepEqual(mergePatch({ a: 1, b: { c: 2, d: 3 }, e: [1] }, { b: { c: null, x: 1 }, e: [2] }), { a: 1, b: { d: 3, x: 1 }, e: [2] });
  });
});

describe('cli - agent', () => {
  test('--cni-socket without the margay-netlink helper is refused before anything starts, naming the fix', async () => {
    const saved = process.env.MARGAY_NETLINK_HELPER;
    process.env.MARGAY_NETLINK_HELPER = '/nonexistent/margay-netlink';
    try {
      const res = await margay(['agent', '--cni-socket', join(tmpdir(), 'margay-never.sock'), '--hostname', 'h1'], { datastore: new MemoryDatastore() });
      assert.equal(res.code, 1);
      assert.match(res.stderr, /margay-netlink helper is not built; run scripts\/install-deps\.sh/);
    } finally {
      if (saved === undefined) delete process.env.MARGAY_NETLINK_HELPER;
      else process.env.MARGAY_NETLINK_HELPER = saved;
    }
  });
});

describe('datastore timeout setting', () => {
  test('MARGAY_DATASTORE_TIMEOUT: a duration or seconds, bounded; anything else is refused naming it', () => {
    assert.deepEqual(datastoreTimeout({}), { dialTimeoutMs: 10_000, timeoutName: 'MARGAY_DATASTORE_TIMEOUT, default 10s' });
    assert.equal(datastoreTimeout({ MARGAY_DATASTORE_TIMEOUT: '2m' }).dialTimeoutMs, 120_000);
    assert.equal(datastoreTimeout({ MARGAY_DATASTORE_TIMEOUT: '1.5' }).dialTimeoutMs, 1500);
    for (const bad of ['abc', '0', '-1s', '11m', '9999999999h', 'NaN']) {
      assert.throws(() => datastoreTimeout({ MARGAY_DATASTORE_TIMEOUT: bad }), (e: unknown) => hasCode(e, 'MARGAY_ERR_CONFIG') && /^MARGAY_DATASTORE_TIMEOUT: expected a duration from 1ms to 10m/.test((e as Error).message), bad);
    }
  });
});

describe('batch limit', () => {
  test('validate and apply refuse more than 10,000 resources in one input, before touching the datastore', async () => {
    const docs = Array.from({ length: 10_001 }, (_, i) => `{"apiVersion":"projectcalico.org/v3","kind":"GlobalNetworkSet","metadata":{"name":"s${i}"}}`);
    const path = file('many.json', `[${docs.join(',')}]`);
    const ds = new MemoryDatastore();
    const before = await ds.currentRevision();
    for (const verb of ['validate', 'apply']) {
      const run = await margay([verb, '-f', path], { datastore: ds });
      assert.equal(run.code, 1);
      assert.equal(run.stderr, 'the input holds 10001 resources; at most 10000 go in one batch (split the input)\n');
    }
    assert.equal(await ds.currentRevision(), before);
  });
});
