/**
 * The CLI as a real process against a real etcd: stdin input (`-f -`), exit codes, one-line
 * errors without stack traces, warnings for stored-but-unenforced fields, and the invalid
 * manifests the foundation issue lists (unknown field, bad enum, overlapping pool, bad selector,
 * port without a port protocol, reversed port range, out-of-range block size and ASN), each
 * leaving etcd unchanged.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createDatastore } from '../../src/datastore/mod.ts';
import type { Datastore } from '../../src/datastore/datastore.ts';
import { startEtcd, type EtcdHandle } from '../harness/etcd.ts';
import { assertOneLineError, margayProcess } from './helpers.ts';

let etcd: EtcdHandle;
let ds: Datastore;

before(async () => {
  etcd = await startEtcd();
  ds = createDatastore({ type: 'etcdv3', etcdEndpoints: etcd.endpoints });
});
after(async () => {
  await ds?.close();
  await etcd?.destroy();
});

function margay(args: string[], input?: string) {
  return margayProcess(args, { env: { DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: etcd.endpoints.join(',') }, ...(input !== undefined ? { input } : {}) });
}

const POOL = 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: base\nspec:\n  cidr: 10.10.0.0/16\n';

describe('cli process - input and output', () => {
  test('apply from standard input, get as JSON', () => {
    const applied = margay(['apply', '-f', '-'], POOL);
    assert.equal(applied.code, 0, applied.stderr);
    assert.match(applied.stdout, /Successfully applied 1 'IPPool' resource\(s\)/);
    const got = margay(['get', 'ippool', 'base', '-o', 'json']);
    assert.equal(got.code, 0, got.stderr);
    assert.equal(JSON.parse(got.stdout).spec.cidr, '10.10.0.0/16');
  });

  test('a stored-but-unenforced http match is applied with a warning', () => {
    const policy = `apiVersion: projectcalico.org/v3
kind: GlobalNetworkPolicy
metadata:
  name: http-only
spec:
  selector: app == 'web'
  ingress:
    - action: Allow
      protocol: TCP
      http:
        methods: ['GET']
`;
    const res = margay(['apply', '-f', '-'], policy);
    assert.equal(res.code, 0, res.stderr);
    assert.match(res.stderr, /^Warning: -: document 1.*spec\.ingress\[0\]\.http: stored but not enforced/m);
  });
});

const INVALID: [string, string, RegExp][] = [
  ['unknown field', 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: x\nspec:\n  cidr: 10.20.0.0/16\n  natOutgoin: true\n', /spec: unknown field "natOutgoin"/],
  ['bad enum', 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: x\nspec:\n  cidr: 10.20.0.0/16\n  ipipMode: Sometimes\n', /spec\.ipipMode/],
  ['overlapping pool', 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: x\nspec:\n  cidr: 10.10.128.0/17\n', /spec\.cidr: .*overlaps/],
  ['bad selector', "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: x\nspec:\n  selector: app == 'a' &&\n", /spec\.selector: invalid selector.*position/],
  ['port without a port protocol', 'apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: x\nspec:\n  ingress:\n    - action: Allow\n      destination:\n        ports: [80]\n', /spec\.ingress\[0\]/],
  ['reversed port range', "apiVersion: projectcalico.org/v3\nkind: GlobalNetworkPolicy\nmetadata:\n  name: x\nspec:\n  ingress:\n    - action: Allow\n      protocol: TCP\n      destination:\n        ports: ['90:80']\n", /spec\.ingress\[0\]\.destination\.ports\[0\]/],
  ['block size out of range', 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: x\nspec:\n  cidr: 10.30.0.0/16\n  blockSize: 19\n', /spec\.blockSize/],
  ['ASN out of range', 'apiVersion: projectcalico.org/v3\nkind: BGPPeer\nmetadata:\n  name: x\nspec:\n  peerIP: 192.0.2.1\n  asNumber: 4294967296\n', /spec\.asNumber/],
  ['unknown kind', 'apiVersion: projectcalico.org/v3\nkind: IPPoool\nmetadata:\n  name: x\n', /kind: unknown kind "IPPoool"/],
  ['wrong apiVersion', 'apiVersion: projectcalico.org/v2\nkind: IPPool\nmetadata:\n  name: x\n', /apiVersion: must be "projectcalico.org\/v3"/],
];

describe('cli process - invalid manifests change nothing', () => {
  for (const [name, manifest, expected] of INVALID) {
    test(name, async () => {
      const revision = await ds.currentRevision();
      const res = margay(['apply', '-f', '-'], `${POOL}---\n${manifest}`);
      assertOneLineError(res, /^-: document 2/);
      assert.match(res.stderr, expected);
      assert.equal(await ds.currentRevision(), revision, 'etcd unchanged');
    });
  }
  test('an unreachable datastore is one clear line and exit 1', () => {
    assertOneLineError(margayProcess(['get', 'ippools'], { env: { ETCD_ENDPOINTS: 'http://127.0.0.1:1' } }), /127\.0\.0\.1:1/);
  });
});
