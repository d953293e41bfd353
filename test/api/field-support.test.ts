/** The field support table (field-effects.ts) and the "no effect" warnings validate and apply print. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PARAMS, PARAM_NAMES } from '../../src/api/felix-params.ts';
import { fieldStatus, fieldTable, noEffectWarnings, schemaFields } from '../../src/api/field-support.ts';
import { FIELD_EFFECTS } from '../../src/api/kinds/field-effects.ts';
import { allKinds, findKind } from '../../src/api/kinds/mod.ts';
import { validateResource } from '../../src/api/validate.ts';
import { margay } from '../cli/helpers.ts';

const v3 = 'projectcalico.org/v3';
const warningsOf = (obj: Record<string, unknown>) => {
  const res = validateResource({ apiVersion: v3, ...obj });
  return findKind(res.kind)!.warnings!(res);
};
const felix = (spec: Record<string, unknown>) => warningsOf({ kind: 'FelixConfiguration', metadata: { name: 'default' }, spec });

describe('field support', () => {
  it('declares only paths the schemas have', () => {
    for (const [kind, effects] of Object.entries(FIELD_EFFECTS)) {
      const def = findKind(kind);
      assert.ok(def, kind);
      const fields = schemaFields(def);
      for (const table of [effects.noEffect, effects.notInCalico, effects.refused]) {
        for (const path of Object.keys(table ?? {})) {
          assert.ok(fields.has(path) || table === effects.refused, `${kind} ${path} is not a field of the schema`);
        }
      }
    }
  });

  it('marks exactly the FelixConfiguration fields the agent reads as supported', () => {
    const read = PARAM_NAMES.filter((n) => !PARAMS[n].local);
    for (const name of read) {
      assert.ok(schemaFields(findKind('FelixConfiguration')!).has(name), `${name} is a FelixConfiguration field`);
      assert.equal(fieldStatus('FelixConfiguration', name).status, 'supported', name);
    }
    const supported = fieldTable(findKind('FelixConfiguration')!).filter((f) => f.status === 'supported' && !f.path.includes('.') && !f.path.includes('['));
    assert.deepEqual(supported.map((f) => f.path).sort(), [...read].sort());
  });

  it('gives every kind a row per field and a status per row', () => {
    for (const def of allKinds) {
      const rows = fieldTable(def);
      assert.equal(rows.filter((r) => r.status !== 'refused').length, schemaFields(def).size, def.kind);
    }
  });
});

describe('no-effect warnings', () => {
  it('names a set field that has no effect, with the reason', () => {
    assert.deepEqual(felix({ bpfEnabled: true }), [{ path: 'spec.bpfEnabled', message: 'accepted but has no effect in Margay (Margay has no eBPF dataplane)' }]);
  });

  it('says nothing about supported fields', () => {
    assert.deepEqual(felix({ healthPort: 9099, logSeverityScreen: 'Debug', failsafeInboundHostPorts: [{ protocol: 'TCP', port: 22 }] }), []);
  });

  it('says nothing about zero values (what Calico writes for fields nobody set)', () => {
    assert.deepEqual(felix({ bpfEnabled: false, vxlanVNI: 0, bpfLogFilters: {}, externalNodesList: [], metadataAddr: '' }), []);
  });

  it('says nothing about a value Calico would fill in anyway (a round-trip of get -o yaml)', () => {
    assert.deepEqual(felix({ nftablesMode: 'Auto' }), []);
    assert.equal(felix({ nftablesMode: 'Enabled' }).length, 1);
  });

  it('names the outermost field once, not every field below it', () => {
    const w = warningsOf({ kind: 'KubeControllersConfiguration', metadata: { name: 'default' }, spec: { controllers: { loadBalancer: { assignIPs: 'RequestedServicesOnly' } } } });
    assert.deepEqual(w.map((i) => i.path), ['spec.controllers.loadBalancer']);
  });

  it('does not repeat a field the kind already warns about (http)', () => {
    const w = warningsOf({ kind: 'GlobalNetworkPolicy', metadata: { name: 'p' }, spec: { ingress: [{ action: 'Allow', http: { methods: ['GET'] } }], performanceHints: ['AssumeNeededOnEveryNode'] } });
    assert.deepEqual(w.map((i) => i.path), ['spec.ingress[0].http', 'spec.performanceHints']);
  });

  it('finds fields inside lists', () => {
    const w = warningsOf({ kind: 'WorkloadEndpoint', metadata: { name: 'n-k8s-p-eth0', namespace: 'default' }, spec: { node: 'n', orchestrator: 'k8s', pod: 'p', endpoint: 'eth0', interfaceName: 'cali1', ipNetworks: ['10.0.0.1/32'], ipNATs: [{ internalIP: '10.0.0.1', externalIP: '192.0.2.1' }] } });
    assert.deepEqual(w.map((i) => i.path), ['spec.ipNATs']);
  });

  it('works for every kind, whatever its defaults need', () => {
    for (const def of allKinds) {
      const res = { apiVersion: v3, kind: def.kind, metadata: { name: 'x' }, spec: {} };
      assert.deepEqual(noEffectWarnings(def, res), [], def.kind);
    }
  });

  it('is empty for a kind that declares nothing', () => {
    const def = findKind('IPReservation')!;
    const res = validateResource({ apiVersion: v3, kind: 'IPReservation', metadata: { name: 'r' }, spec: { reservedCIDRs: ['10.0.0.0/24'] } });
    assert.deepEqual(noEffectWarnings(def, res), []);
  });
});

describe('margay validate', () => {
  it('prints one warning line per field without effect and succeeds', async () => {
    const file = new URL('./fixtures/parity-manifests/03-felix.yaml', import.meta.url).pathname;
    const run = await margay(['validate', '-f', file]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /Successfully validated 3 resource\(s\)/);
    const lines = run.stderr.trim().split('\n');
    assert.ok(lines.every((l) => l.startsWith('Warning: ') && l.includes('03-felix.yaml: document ')), run.stderr);
    assert.ok(lines.some((l) => /\(FelixConfiguration "default"\): spec\.bpfConntrackTimeouts: accepted but has no effect in Margay/.test(l)), run.stderr);
    assert.ok(lines.some((l) => /\(FelixConfiguration "edge-nodes"\): spec\.nodeSelector: /.test(l)), run.stderr);
    assert.ok(!lines.some((l) => /spec\.(healthPort|logSeverityScreen|interfacePrefix):/.test(l)), 'supported fields are not named');
  });
});
