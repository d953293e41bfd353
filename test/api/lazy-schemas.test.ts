import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { felixConfigurationKind, FELIX_CONFIG_FIELDS } from '../../src/api/kinds/felix-configuration.ts';
import { allKinds, findKind } from '../../src/api/kinds/mod.ts';
import { lazy } from '../../src/api/lazy.ts';
import { validateResource } from '../../src/api/validate.ts';

// Kinds whose schemas are built on first use (src/api/lazy.ts): the agent's start builds none.
const LAZY_KINDS = [
  'BGPConfiguration',
  'BGPFilter',
  'BGPPeer',
  'CalicoNodeStatus',
  'ClusterInformation',
  'FelixConfiguration',
  'IPAMConfiguration',
  'IPPool',
  'IPReservation',
  'KubeControllersConfiguration',
  'Node',
];

describe('schemas built on first use', () => {
  it('lazy builds once, on the first call, and keeps the value', () => {
    let builds = 0;
    const value = lazy(() => ({ n: ++builds }));
    assert.equal(builds, 0);
    const first = value();
    assert.equal(builds, 1);
    assert.equal(value(), first);
    assert.equal(builds, 1);
  });

  it('lazy keeps a built undefined without building again', () => {
    let builds = 0;
    const value = lazy(() => {
      builds++;
      return undefined;
    });
    value();
    value();
    assert.equal(builds, 1);
  });

  it('the listed kinds, as allKinds holds them, still have their schemas behind getters', () => {
    for (const kind of LAZY_KINDS) {
      const def = allKinds.find((k) => k.kind === kind);
      assert.ok(def, kind);
      const spec = Object.getOwnPropertyDescriptor(def, 'specSchema');
      assert.equal(typeof spec?.get, 'function', `${kind}.specSchema is a getter (a copy of the kind made at load would build it)`);
      if (def.statusSchema !== undefined) assert.equal(typeof Object.getOwnPropertyDescriptor(def, 'statusSchema')?.get, 'function', `${kind}.statusSchema`);
    }
  });

  it('a kind gives the same schema object every time, in allKinds and in its module', () => {
    const def = findKind('FelixConfiguration')!;
    const firstSpec = def.specSchema; // built by this first read
    assert.equal(def.specSchema, firstSpec, 'a second read builds nothing new');
    assert.equal(felixConfigurationKind.specSchema, firstSpec);
    const node = findKind('Node')!;
    const firstStatus = node.statusSchema;
    assert.ok(firstStatus);
    assert.equal(node.statusSchema, firstStatus, 'a second read builds nothing new');
  });

  it('the FelixConfiguration field names come without building the schema, and the schema has exactly them', () => {
    const shape = (felixConfigurationKind.specSchema as unknown as { shape: Record<string, unknown> }).shape;
    assert.deepEqual(Object.keys(shape).sort(), [...FELIX_CONFIG_FIELDS].sort());
  });

  it('a schema built on first use validates as before', () => {
    const felix = (spec: Record<string, unknown>) => ({ apiVersion: 'projectcalico.org/v3', kind: 'FelixConfiguration', metadata: { name: 'default' }, spec });
    assert.doesNotThrow(() => validateResource(felix({ logSeverityScreen: 'Debug', healthPort: 9099 })));
    assert.throws(() => validateResource(felix({ healthPort: 70000 })), /healthPort/);
    const status = { apiVersion: 'projectcalico.org/v3', kind: 'CalicoNodeStatus', metadata: { name: 'n1' }, spec: { node: 'n1', classes: ['Agent'], updatePeriodSeconds: 10 } };
    assert.doesNotThrow(() => validateResource(status));
    assert.throws(() => validateResource({ ...status, spec: { ...status.spec, classes: ['Nope'] } }), /classes/);
  });
});
