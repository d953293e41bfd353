/**
 * The quick parses of WorkloadEndpoint specs and of metadata (src/api/kinds/workload-endpoint-quick.ts,
 * src/api/metadata-quick.ts) against the zod schemas they stand in for: on random input, mostly
 * near the CNI's endpoints and often invalid, whatever a quick parse accepts the schema accepts
 * too, with the same result (same JSON text, so the same key order).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import { canonicalKeys } from '../../src/api/key-case.ts';
import { quickWorkloadEndpointSpec } from '../../src/api/kinds/workload-endpoint-quick.ts';
import { workloadEndpointKind, workloadEndpointSpecSchema } from '../../src/api/kinds/workload-endpoint.ts';
import { quickMetadata } from '../../src/api/metadata-quick.ts';
import { metadataSchema, validateResource } from '../../src/api/validate.ts';

/** Valid and invalid values alike, so that both answers of each check come up. */
const names = fc.constantFrom('node1', 'cni', 'k8s', 'ctr-1', 'a.b', 'pod-0', '', 'Bad', '-x', 'x-', 'a_b', 'x'.repeat(254), 'eth0');
const strings = fc.oneof(names, fc.constantFrom('cali0123456789a', 'cali0123456789ab', '*', 'ee:ee:ee:ee:ee:ee', 'EE-EE-EE-EE-EE-EE', 'eeee.eeee.eeee', '0a:58:0a:f4:00:05', '10.244.0.5/32', '10.244.0.5', 'fd00::5/128', '10.244.0.5/24', '10.244.0.0/24', 'nope', 'abc123', '0123abcdef', ' a'), fc.string({ maxLength: 6 }));
const oddValues = fc.constantFrom<unknown>(null, undefined, 7, true, {}, [], ['x', 3], [undefined]);
const value = fc.oneof({ weight: 6, arbitrary: strings }, { weight: 3, arbitrary: fc.array(strings, { maxLength: 3 }) }, { weight: 1, arbitrary: oddValues });
const specKeys = fc.constantFrom(
  'orchestrator', 'workload', 'node', 'containerID', 'pod', 'endpoint', 'serviceAccountName', 'ipNetworks', 'profiles', 'interfaceName', 'mac',
  'ports', 'ipNATs', 'ipv4Gateway', 'InterfaceName', 'containerid', 'unknownField',
);
const sparse = (): string[] => {
  const a: string[] = [];
  a[1] = '10.244.0.5/32';
  return a;
};
/** A record of valid values, then up to two fields set to any value (or removed). */
function mutated(valid: fc.Arbitrary<Record<string, unknown>>, keys: fc.Arbitrary<string>, values: fc.Arbitrary<unknown>): fc.Arbitrary<Record<string, unknown>> {
  return fc.tuple(valid, fc.array(fc.tuple(keys, fc.option(values, { nil: 'remove' as const })), { maxLength: 2 })).map(([base, changes]) => {
    const out = { ...base };
    for (const [k, v] of changes) {
      if (v === 'remove') delete out[k];
      else out[k] = v;
    }
    return out;
  });
}
const validName = fc.constantFrom('node1', 'cni', 'k8s', 'ctr-1', 'a.b', 'pod-0', 'eth0');
const validSpec = fc.record(
  {
    orchestrator: validName, workload: validName, node: validName, containerID: fc.constantFrom('ctr-1', 'abc123', '0123abcdef'), pod: validName,
    endpoint: validName, serviceAccountName: validName, interfaceName: fc.constantFrom('cali0123456789a', 'eth0', '*'),
    mac: fc.constantFrom('ee:ee:ee:ee:ee:ee', 'EE-EE-EE-EE-EE-EE', 'eeee.eeee.eeee', '0a:58:0a:f4:00:05'),
    ipNetworks: fc.array(fc.constantFrom('10.244.0.5/32', '10.244.0.5', 'fd00::5/128', '10.244.0.0/24'), { maxLength: 3 }),
    profiles: fc.array(validName, { maxLength: 2 }),
  },
  { requiredKeys: ['interfaceName'] },
);
const spec = fc.oneof(
  { weight: 6, arbitrary: mutated(validSpec, specKeys, value) },
  { weight: 3, arbitrary: fc.dictionary(specKeys, value, { maxKeys: 11 }) },
  { weight: 1, arbitrary: fc.constantFrom<unknown>(null, 'spec', [], { interfaceName: 'cali1', ipNetworks: sparse() }, Object.assign(Object.create(null), { interfaceName: 'cali1' })) },
);

const labelKeys = fc.constantFrom('app', 'projectcalico.org/namespace', 'a/b', 'Bad Key', '', '__proto__', '-x', 'x'.repeat(64), 'k8s.io/app');
const labelValues = fc.oneof(fc.constantFrom('web', '', 'a b', '-x', 'x'.repeat(64), 'v1.2'), fc.constantFrom<unknown>(1, null));
const metaKeys = fc.constantFrom('name', 'namespace', 'labels', 'annotations', 'uid', 'resourceVersion', 'Name');
const metaValue = fc.oneof(
  { weight: 4, arbitrary: strings },
  { weight: 4, arbitrary: fc.dictionary(labelKeys, labelValues, { maxKeys: 4 }) },
  { weight: 1, arbitrary: oddValues },
);
const validMetadata = fc.record(
  {
    name: names, namespace: validName,
    labels: fc.dictionary(fc.constantFrom('app', 'a/b', 'k8s.io/app', 'Bad Key'), fc.constantFrom('web', '', 'v1.2', 'web', 'a b', '-x'), { maxKeys: 3 }),
    annotations: fc.dictionary(fc.string({ maxLength: 4 }), fc.string({ maxLength: 4 }), { maxKeys: 3 }),
  },
  { requiredKeys: ['name'] },
);
const metadata = fc.oneof(
  { weight: 6, arbitrary: mutated(validMetadata, metaKeys, metaValue) },
  { weight: 3, arbitrary: fc.dictionary(metaKeys, metaValue, { maxKeys: 5 }) },
  { weight: 1, arbitrary: oddValues },
);

/** The schema's answer: its data, or undefined when it refuses. */
function bySchema(schema: { safeParse(v: unknown): { success: boolean; data?: unknown } }, input: unknown): unknown {
  const r = schema.safeParse(input);
  return r.success ? r.data : undefined;
}

describe('the quick parses agree with the schemas', () => {
  it('a WorkloadEndpoint spec the quick parse takes is what the spec schema returns', () => {
    let taken = 0;
    fc.assert(
      fc.property(spec, (input) => {
        const quick = quickWorkloadEndpointSpec(input);
        if (quick === undefined) return;
        taken++;
        const expected = bySchema(workloadEndpointSpecSchema, canonicalKeys(input, workloadEndpointSpecSchema));
        assert.notEqual(expected, undefined, `the schema refuses ${JSON.stringify(input)}`);
        assert.equal(JSON.stringify(quick), JSON.stringify(expected));
        assert.deepStrictEqual(quick, expected);
      }),
      { numRuns: 3000 },
    );
    assert.ok(taken > 50, `the quick parse took only ${taken} specs: the property says little`);
  });

  it('metadata the quick parse takes is what the metadata schema returns', () => {
    let taken = 0;
    fc.assert(
      fc.property(metadata, (input) => {
        const quick = quickMetadata(input);
        if (quick === undefined) return;
        taken++;
        const expected = bySchema(metadataSchema, input);
        assert.notEqual(expected, undefined, `the schema refuses ${JSON.stringify(input)}`);
        assert.equal(JSON.stringify(quick), JSON.stringify(expected));
        assert.deepStrictEqual(quick, expected);
      }),
      { numRuns: 3000 },
    );
    assert.ok(taken > 50, `the quick parse took only ${taken} metadata: the property says little`);
  });

  it('takes the CNI\'s endpoints, and validateResource returns the same with or without it', () => {
    const endpoint = {
      apiVersion: 'projectcalico.org/v3',
      kind: 'WorkloadEndpoint',
      metadata: { name: 'node1-cni-ctr--1-eth0', namespace: 'default', labels: { app: 'web' }, annotations: { 'margay.io/cni-network': 'net1' } },
      spec: {
        orchestrator: 'cni', node: 'node1', containerID: 'ctr-1', workload: 'ctr-1', endpoint: 'eth0', interfaceName: 'cali0123456789a',
        mac: '0a:58:0a:f4:00:05', ipNetworks: ['10.244.0.5/32', 'fd00::5/128'], profiles: ['net1'],
      },
    };
    assert.notEqual(quickMetadata(endpoint.metadata), undefined);
    assert.notEqual(quickWorkloadEndpointSpec(endpoint.spec), undefined);
    const quick = validateResource(structuredClone(endpoint));
    // The same through the spec schema (the metadata's quick parse is covered above).
    const quickSpec = workloadEndpointKind.quickSpec;
    assert.equal(typeof quickSpec, 'function');
    delete workloadEndpointKind.quickSpec;
    let slow;
    try {
      slow = validateResource(structuredClone(endpoint));
    } finally {
      workloadEndpointKind.quickSpec = quickSpec;
    }
    assert.equal(JSON.stringify(quick), JSON.stringify(slow));
  });

  it('leaves bad input to the schemas, whose errors name the field', () => {
    const resource = (metadata: object, spec: object) => ({ apiVersion: 'projectcalico.org/v3', kind: 'WorkloadEndpoint', metadata, spec });
    assert.throws(() => validateResource(resource({ name: 'n', labels: { 'Bad Key': 'x' } }, { interfaceName: 'cali1' })), /metadata\.labels\["Bad Key"\]: label key "Bad Key" is invalid/);
    assert.throws(() => validateResource(resource({ name: 'n' }, { interfaceName: 'cali1', mac: 'nope' })), /spec\.mac: must be a MAC address such as ee:ee:ee:ee:ee:ee \(got "nope"\)/);
    assert.throws(() => validateResource(resource({ name: 'n' }, { interfaceName: 'cali1', ipNetworks: ['10.0.0.1/24'] })), /spec\.ipNetworks\[0\]: invalid network "10\.0\.0\.1\/24": host bits are set/);
  });
});
