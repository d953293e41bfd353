/** Kubernetes manifests made ready for offline policy evaluation. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { prepareOfflineDocuments } from '../../src/policy/mod.ts';

describe('policy - offline documents', () => {
  it('adds implied namespaces with their name label', () => {
    const docs = prepareOfflineDocuments([
      { source: { file: 'f', document: 0 }, object: { apiVersion: 'v1', kind: 'Pod', metadata: { name: 'p', namespace: 'solo' }, spec: {} } },
    ]);
    assert.equal(docs.length, 2);
    assert.deepEqual(docs[1]!.object, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'solo', labels: { 'kubernetes.io/metadata.name': 'solo' } } });
    assert.equal((docs[0]!.object as { status: { podIP: string } }).status.podIP, '10.244.0.1');
  });
});
