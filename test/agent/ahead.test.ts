import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EndpointsAhead } from '../../src/agent/ahead.ts';

describe('endpoints programmed ahead of the datastore', () => {
  test("withdrawing gives back the datastore's last value of a local endpoint, once, and only for the newest feed", () => {
    const ahead = new EndpointsAhead();
    const before = { spec: { containerID: 'old' } };
    ahead.onDatastore('ns/a', before, true);
    const first = ahead.feed('ns/a');
    const second = ahead.feed('ns/a');
    assert.equal(ahead.withdraw('ns/a', first), undefined, 'replaced by a newer feed');
    assert.deepEqual(ahead.withdraw('ns/a', second), { value: before });
    assert.equal(ahead.withdraw('ns/a', second), undefined, 'already withdrawn');
  });

  test('an endpoint the datastore never had is removed again', () => {
    const ahead = new EndpointsAhead();
    const seq = ahead.feed('ns/new');
    assert.deepEqual(ahead.withdraw('ns/new', seq), { value: undefined });
  });

  test('nothing to withdraw once the datastore has spoken about the endpoint (its echo, or any change)', () => {
    const ahead = new EndpointsAhead();
    const seq = ahead.feed('ns/a');
    ahead.onDatastore('ns/a', { spec: { containerID: 'c1' } }, true);
    assert.equal(ahead.withdraw('ns/a', seq), undefined);
    const again = ahead.feed('ns/a');
    ahead.onDatastore('ns/a', undefined, false);
    assert.equal(ahead.withdraw('ns/a', again), undefined, 'a deletion takes over too');
  });

  test('a deleted or moved endpoint leaves no value to restore', () => {
    const ahead = new EndpointsAhead();
    ahead.onDatastore('ns/a', { spec: {} }, true);
    ahead.onDatastore('ns/a', undefined, false);
    assert.deepEqual(ahead.withdraw('ns/a', ahead.feed('ns/a')), { value: undefined });
    ahead.onDatastore('ns/b', { spec: {} }, true);
    ahead.onDatastore('ns/b', { spec: { node: 'elsewhere' } }, false);
    assert.deepEqual(ahead.withdraw('ns/b', ahead.feed('ns/b')), { value: undefined });
  });
});
