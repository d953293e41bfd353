/**
 * WorkloadEndpoint naming and veth names, ported from libcalico-go's names/workloadendpoint_test.go
 * and k8s/conversion/conversion_test.go.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  parseWorkloadEndpointName,
  vethNameForPod,
  workloadEndpointName,
  WorkloadEndpointNameError,
  workloadEndpointNameMatches,
  workloadEndpointNamePrefix,
  type WorkloadEndpointIdentifiers,
} from '../../src/api/k8s/mod.ts';

type Ids = Partial<WorkloadEndpointIdentifiers> & { node?: string };
const ids = (x: Ids) => x as WorkloadEndpointIdentifiers;

describe('WorkloadEndpoint name construction, fully qualified names', () => {
  const cases: [string, Ids, string, string][] = [
    ['Valid k8s endpoint', { node: 'node-1', orchestrator: 'k8s', pod: 'pod-name', endpoint: 'eth0' }, 'node--1-k8s-pod--name-eth0', ''],
    ['Valid CNI (non-k8s) endpoint', { node: 'node-1', orchestrator: 'cni', containerID: 'abcdefa0123456', endpoint: 'eth0' }, 'node--1-cni-abcdefa0123456-eth0', ''],
    ['Valid libnetwork endpoint', { node: 'node-1', orchestrator: 'libnetwork', endpoint: 'abcdefgh' }, 'node--1-libnetwork-libnetwork-abcdefgh', ''],
    ['Valid unknown orchestrator endpoint', { node: 'node-1', orchestrator: 'foo', workload: 'foo-foo', endpoint: 'abcdefgh' }, 'node--1-foo-foo--foo-abcdefgh', ''],
    ['Missing orchestrator and workload', { node: 'node-1', pod: 'pod-name', endpoint: 'eth0' }, '', 'orchestrator'],
    ['Missing k8s Pod', { node: 'node-1', orchestrator: 'k8s', endpoint: 'eth0' }, '', 'pod'],
    ['CNI container ID starts with a -', { node: 'node-1', orchestrator: 'cni', containerID: '-abcdefa0123456', endpoint: 'eth0' }, '', 'containerID'],
    ['Unknown orchestrator workload ends with a -', { node: 'node-1', orchestrator: 'foo', workload: 'foo-foo-', endpoint: 'abcdefgh' }, '', 'workload'],
    ['Node is missing', { orchestrator: 'k8s', pod: 'pod-name', endpoint: 'eth0' }, '', 'node'],
  ];
  for (const [title, input, expected, field] of cases) {
    it(title, () => {
      if (field) {
        assert.throws(() => workloadEndpointName(ids(input)), (err: unknown) => err instanceof WorkloadEndpointNameError && err.field === field && err.code === 'MARGAY_ERR_VALIDATION');
      } else {
        assert.equal(workloadEndpointName(ids(input)), expected);
      }
    });
  }
});

describe('WorkloadEndpoint name construction, name prefix', () => {
  const cases: [string, Ids, string, string][] = [
    ['Valid k8s endpoint', { node: 'node-1', orchestrator: 'k8s', pod: 'pod-name', endpoint: 'eth0' }, 'node--1-k8s-pod--name-eth0', ''],
    ['Missing workload but other fields present', { node: 'node-1', orchestrator: 'foo', pod: 'pod-name', endpoint: 'eth0' }, 'node--1-foo-', ''],
    ['Missing k8s Pod', { node: 'node-1', orchestrator: 'k8s', endpoint: 'eth0' }, 'node--1-k8s-', ''],
    ['CNI container ID starts with a -', { node: 'node-1', orchestrator: 'cni', containerID: '-abcdefa0123456', endpoint: 'eth0' }, '', 'containerID'],
    ['Unknown orchestrator, workload ends with a -', { node: 'node-1', orchestrator: 'foo', workload: 'foo-foo-', endpoint: 'abcdefgh' }, '', 'workload'],
    ['Node is missing', { orchestrator: 'k8s', pod: 'pod-name', endpoint: 'eth0' }, '', 'node'],
    ['Orchestrator is missing', { node: 'node-1', pod: 'pod-name', endpoint: 'eth0' }, 'node--1-', ''],
  ];
  for (const [title, input, expected, field] of cases) {
    it(title, () => {
      if (field) assert.throws(() => workloadEndpointNamePrefix(ids(input)), (err: unknown) => err instanceof WorkloadEndpointNameError && err.field === field);
      else assert.equal(workloadEndpointNamePrefix(ids(input)), expected);
    });
  }
});

describe('WorkloadEndpoint name matching', () => {
  const cases: [string, Ids, string, boolean][] = [
    ['Orchestrator is missing', { node: 'node-1', pod: 'pod-name', endpoint: 'eth0' }, '', false],
    ['Valid k8s endpoint and matching name', { node: 'node-1', orchestrator: 'k8s', pod: 'pod-name', endpoint: 'eth0' }, 'node--1-k8s-pod--name-eth0', true],
    ['Fully qualified k8s endpoint, non-matching Endpoint', { node: 'node-1', orchestrator: 'k8s', pod: 'pod-name', endpoint: 'eth0' }, 'node--1-k8s-pod--name-eth', false],
    ['CNI endpoint ids missing container ID but name matches remaining ids', { node: 'node-1', orchestrator: 'cni', endpoint: 'eth0' }, 'node--1-cni-orchestratorid-eth0', true],
    ['Fully qualified CNI endpoint and matching name', { node: 'node-1', orchestrator: 'cni', containerID: 'abcde', endpoint: 'eth0' }, 'node--1-cni-abcde-eth0', true],
    ['Fully qualified CNI endpoint and non-matching container', { node: 'node-1', orchestrator: 'cni', containerID: 'abcde', endpoint: 'eth0' }, 'node--1-cni-abcdef-eth0', false],
    ['Too few name segments', { node: 'node-1', orchestrator: 'k8s', endpoint: 'eth0' }, 'node--1-k8s-', false],
    ['Too many name segments', { node: 'node-1', orchestrator: 'k8s', pod: 'pod', endpoint: 'eth0' }, 'node--1-k8s-pod-eth0-extra', false],
  ];
  for (const [title, input, name, expected] of cases) {
    it(title, () => assert.equal(workloadEndpointNameMatches(ids(input), name), expected));
  }
  it('Node is missing', () => {
    assert.throws(() => workloadEndpointNameMatches(ids({ orchestrator: 'k8s', pod: 'pod-name', endpoint: 'eth0' }), ''), (err: unknown) => err instanceof WorkloadEndpointNameError && err.field === 'node');
  });
});

describe('WorkloadEndpoint name parsing', () => {
  const cases: [string, string, Ids | undefined][] = [
    ['Empty string', '', undefined],
    ['Fully populated k8s wep name', 'node-k8s-pod-eth0', { node: 'node', orchestrator: 'k8s', pod: 'pod', endpoint: 'eth0' }],
    ['K8s prefix match with only node', 'node-', { node: 'node', orchestrator: '' }],
    ['K8s prefix match with node and pod', 'node-k8s-pod--name-', { node: 'node', orchestrator: 'k8s', pod: 'pod-name' }],
    ['Fully populated cni', 'node-cni-xyz-eth0', { node: 'node', orchestrator: 'cni', containerID: 'xyz', endpoint: 'eth0' }],
    ['Fully populated libnetwork', 'node-libnetwork-libnetwork-eth0', { node: 'node', orchestrator: 'libnetwork', endpoint: 'eth0' }],
    ['Fully populated other orchestrators', 'node-foo--orch-workload-eth0', { node: 'node', orchestrator: 'foo-orch', workload: 'workload', endpoint: 'eth0' }],
    ['Parse a k8s name with a dashed pod (conversion_test.go)', 'node-k8s-pod--name-eth0', { node: 'node', orchestrator: 'k8s', pod: 'pod-name', endpoint: 'eth0' }],
  ];
  for (const [title, name, expected] of cases) {
    it(title, () => {
      if (!expected) assert.throws(() => parseWorkloadEndpointName(name), WorkloadEndpointNameError);
      else assert.deepEqual(parseWorkloadEndpointName(name), expected);
    });
  }
  it('rejects too many parts', () => assert.throws(() => parseWorkloadEndpointName('a-k8s-b-c-d'), /too many parts/));
  it('round-trips names with dashes everywhere', () => {
    const input = { node: 'n-1-x', orchestrator: 'k8s', pod: 'web-7d9f-abc', endpoint: 'eth0' };
    assert.deepEqual(parseWorkloadEndpointName(workloadEndpointName(input)), input);
  });
});

describe('veth names', () => {
  it('is fixed across releases: default/podA → cali7f94ce7c295 (conversion_test.go)', () => {
    assert.equal(vethNameForPod('default', 'podA'), 'cali7f94ce7c295');
  });
  it('uses the first prefix of a list: eni,veth,foo → eni82111e10a96 (conversion_test.go)', () => {
    assert.equal(vethNameForPod('namespace', 'podname', 'eni,veth,foo'), 'eni82111e10a96');
  });
  it('is the prefix plus 11 hex digits, at most 15 characters with cali', () => {
    const name = vethNameForPod('kube-system', 'coredns-5d78c9869d-abcde');
    assert.match(name, /^cali[0-9a-f]{11}$/);
    assert.equal(name.length, 15);
  });
  it('differs between namespaces', () => {
    assert.notEqual(vethNameForPod('a', 'p'), vethNameForPod('b', 'p'));
  });
});
