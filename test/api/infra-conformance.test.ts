/**
 * The conformance samples (shared/conformance/manifests) of the infrastructure kinds and of the
 * Kubernetes kinds: every valid one decodes, every invalid one fails with MARGAY_ERR_VALIDATION
 * naming the file and the field path of its fault.
 */
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { decodeDocuments, decodeResources } from '../../src/api/decode.ts';
import { ResourceValidationError } from '../../src/api/validate.ts';

const ROOT = '/work/shared/conformance/manifests';
const MINE = new Set([
  'IPPool', 'IPReservation', 'BGPConfiguration', 'BGPPeer', 'BGPFilter', 'FelixConfiguration', 'Node',
  'CalicoNodeStatus', 'ClusterInformation', 'IPAMConfiguration', 'KubeControllersConfiguration',
]);

/** Expected field path of each invalid sample of these kinds. */
const EXPECTED_PATH: Record<string, string> = {
  '01-ippool-cidr-prefix-33.yaml': 'spec.cidr',
  '03-ippool-blocksize-too-large.yaml': 'spec.blockSize',
  '05-ippool-smaller-than-block.yaml': 'spec.cidr',
  '07-ippool-vxlanmode-lowercase.yaml': 'spec.vxlanMode',
  '09-ippool-ipv6-ipip-always.yaml': 'spec.ipipMode',
  '11-ippool-loadbalancer-with-tunnel.yaml': 'spec.allowedUses',
  '41-bgppeer-node-and-nodeselector.yaml': 'spec.nodeSelector',
  '43-bgppeer-keepnexthop-and-nexthopmode.yaml': 'spec.nextHopMode',
  '45-bgppeer-asn-out-of-range.yaml': 'spec.asNumber',
  '47-bgpconfiguration-mesh-password-mesh-disabled.yaml': 'spec.nodeMeshPassword',
  '49-bgpfilter-cidr-without-matchoperator.yaml': 'spec.exportV4[0].matchOperator',
  '51-node-ipv6-in-ipv4-field.yaml': 'spec.bgp.ipv4Address',
};

function kindsIn(file: string): string[] {
  return decodeDocuments(readFileSync(file, 'utf8'), file).map((d) => String((d.object as { kind?: unknown }).kind));
}

function isMine(file: string): boolean {
  const kinds = kindsIn(file);
  return kinds.length > 0 && kinds.every((k) => MINE.has(k));
}

if (!existsSync(ROOT)) throw new Error(`conformance samples not found at ${ROOT} (they come with ../shared beside the checkout)`);

describe('conformance: valid samples', () => {
  const dir = join(ROOT, 'valid');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
  for (const f of files) {
    const path = join(dir, f);
    const kinds = kindsIn(path);
    const relevant = kinds.every((k) => MINE.has(k)) || /k8s-netpol/.test(f);
    if (!relevant) continue;
    it(`${f} is accepted`, () => {
      const resources = decodeResources(readFileSync(path, 'utf8'), f);
      assert.ok(resources.length > 0);
      for (const { resource } of resources) assert.equal(resource.apiVersion, 'projectcalico.org/v3');
    });
  }
});

describe('conformance: invalid samples', () => {
  const dir = join(ROOT, 'invalid');
  const files = readdirSync(dir).filter((f) => f.endsWith('.yaml')).sort();
  for (const f of files) {
    const path = join(dir, f);
    if (!isMine(path)) continue;
    it(`${f} is rejected at ${EXPECTED_PATH[f] ?? '(its field)'}`, () => {
      assert.throws(
        () => decodeResources(readFileSync(path, 'utf8'), f),
        (err: unknown) => {
          assert.ok(err instanceof ResourceValidationError, String(err));
          assert.equal(err.code, 'MARGAY_ERR_VALIDATION');
          assert.ok(err.message.startsWith(`${f}: document 1`), err.message);
          const expected = EXPECTED_PATH[f];
          assert.ok(expected, `no expected path recorded for ${f}: ${err.message}`);
          assert.ok(err.issues.some((i) => i.path === expected), `expected an issue at ${expected}, got ${JSON.stringify(err.issues)}`);
          return true;
        },
      );
    });
  }
});
