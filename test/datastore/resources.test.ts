import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import { validateResource } from '../../src/api/validate.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import { hasCode } from '../../src/errors/mod.ts';
import { dump, FaultyDatastore } from './faulty.ts';

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

describe('resource store - writes for a caller’s own transaction, deletes as read', () => {
  test('putOp: a put with creation metadata, read back as written; kinds that need reads are refused', async () => {
    const { ds, reads } = counting();
    const store = new ResourceStore(ds);
    const { op, resource } = store.putOp(endpoint('c1'));
    assert.equal(op.op, 'put');
    assert.ok(resource.metadata.uid && resource.metadata.creationTimestamp);
    const revision = await ds.txn([op]);
    assert.equal(reads(), 0, 'nothing read');
    const stored = await store.get(workloadEndpointKind, 'node1-k8s-pod1-eth0', 'ns1');
    assert.equal(stored?.metadata.resourceVersion, String(revision));
    assert.equal(stored?.metadata.uid, resource.metadata.uid);
    const policy = validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'ns1' }, spec: { selector: 'all()' } });
    assert.throws(() => store.putOp(policy), (err: unknown) => hasCode(err, 'MARGAY_ERR_VALIDATION'));
    const pool = validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '10.0.0.0/16' } });
    assert.throws(() => store.putOp(pool), (err: unknown) => hasCode(err, 'MARGAY_ERR_VALIDATION'));
  });

  test('deleteAsRead: one write, no read; refused once the resource changed or went', async () => {
    const { ds, reads } = counting();
    const store = new ResourceStore(ds);
    const first = (await store.apply(endpoint('c1'), { likelyNew: true })).resource;
    const second = (await store.apply(endpoint('c2'))).resource;
    const before = reads();
    await assert.rejects(store.deleteAsRead(first), (err: unknown) => hasCode(err, 'MARGAY_ERR_CONFLICT'));
    await store.deleteAsRead(second);
    assert.equal(reads(), before);
    assert.equal(await store.get(workloadEndpointKind, 'node1-k8s-pod1-eth0', 'ns1'), undefined);
    await assert.rejects(store.deleteAsRead(second), (err: unknown) => hasCode(err, 'MARGAY_ERR_NOT_FOUND'));
  });
});

describe('resource store - a batch larger than one transaction', () => {
  const policy = (name: string, selector: string) =>
    validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name }, spec: { selector } });

  test('a failure injected after the first transaction leaves the store as it was', async () => {
    const inner = new MemoryDatastore();
    const store = new ResourceStore(inner);
    await store.batch('apply', [policy('p-0', 'a == "old"'), policy('p-1', 'a == "old"')]);
    const before = await dump(inner);
    const ds = new FaultyDatastore(inner, (n) => (n === 2 ? 'rejected' : undefined));
    const batch = [policy('p-0', 'a == "new"'), policy('p-1', 'a == "new"'), ...Array.from({ length: 300 }, (_, i) => policy(`q-${i}`, 'a == "new"'))];
    await assert.rejects(new ResourceStore(ds).batch('apply', batch), (e: unknown) => hasCode(e, 'MARGAY_ERR_DATASTORE_REJECTED') && /the 125 writes already made were undone; the datastore is as before/.test((e as Error).message));
    assert.equal(await dump(inner), before);
    assert.equal(ds.txns, 5, 'two transactions of the batch, one undo, then the marker and the undo record removed');
  });

  for (const verb of ['replace', 'delete'] as const) {
    test(`${verb} of 300 resources (three transactions) failing in the last: every key and value as before`, async () => {
      const inner = new MemoryDatastore();
      const store = new ResourceStore(inner);
      const names = Array.from({ length: 300 }, (_, i) => `r-${i}`);
      await store.batch('apply', names.slice(0, 150).map((n) => policy(n, 'a == "old"')));
      await store.batch('apply', names.slice(150).map((n) => policy(n, 'a == "old"')));
      // Updates and deletes over more than one transaction: the keys of the first come back with new
      // revisions (docs/datastore.md); keys and values are as before.
      const values = async () => (await inner.list('/')).items.map((kv) => `${kv.key} ${kv.value}`).join('\n');
      const before = await values();
      let seen = 0;
      const ds = new FaultyDatastore(inner, () => (++seen === 3 ? 'rejected' : undefined));
      const batch = names.map((n) => policy(n, 'a == "new"'));
      await assert.rejects(new ResourceStore(ds).batch(verb, batch), /the 250 writes already made were undone; the datastore is as before/);
      assert.equal(await values(), before);
    });
  }
});
