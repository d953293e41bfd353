import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import { validateResource } from '../../src/api/validate.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';

function endpoint(containerID: string) {
  return validateResource({
    apiVersion: 'projectcalico.org/v3',
    kind: 'WorkloadEndpoint',
    metadata: { name: 'node1-k8s-pod1-eth0', namespace: 'ns1', labels: { app: 'web' } },
    spec: { orchestrator: 'k8s', node: 'node1', containerID, pod: 'pod1', endpoint: 'eth0', interfaceName: 'cali0123456789a', ipNetworks: ['10.0.0.1/32'], profiles: ['kns.ns1'] },
  });
}

/** A memory datastore that counts reads. */
function counting(): { ds: MemoryDatastore; reads: () => number } {
  const ds = new MemoryDatastore();
  let reads = 0;
  const get = ds.get.bind(ds);
  ds.get = (key) => {
    reads++;
    return get(key);
  };
  return { ds, reads: () => reads };
}

describe('resource store - apply of a resource that is likely new', () => {
  test('creates with one write and no read', async () => {
    const { ds, reads } = counting();
    const store = new ResourceStore(ds);
    const { resource, outcome } = await store.apply(endpoint('c1'), { likelyNew: true });
    assert.equal(outcome, 'created');
    assert.equal(reads(), 0);
    const stored = await store.get(workloadEndpointKind, 'node1-k8s-pod1-eth0', 'ns1');
    assert.equal(stored?.metadata.resourceVersion, resource.metadata.resourceVersion);
    assert.ok(stored?.metadata.uid, 'creation metadata set as for any create');
  });

  test('an existing resource is updated as a plain apply would, or left unchanged', async () => {
    const { ds } = counting();
    const store = new ResourceStore(ds);
    const first = await store.apply(endpoint('c1'));
    const again = await store.apply(endpoint('c1'), { likelyNew: true });
    assert.equal(again.outcome, 'unchanged');
    assert.equal(again.resource.metadata.resourceVersion, first.resource.metadata.resourceVersion);
    const changed = await store.apply(endpoint('c2'), { likelyNew: true });
    assert.equal(changed.outcome, 'updated');
    assert.equal(changed.resource.metadata.uid, first.resource.metadata.uid, 'uid kept');
    assert.equal((changed.resource.spec as { containerID: string }).containerID, 'c2');
  });
});
