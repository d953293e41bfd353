import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { EndpointsAhead } from '../../src/agent/ahead.ts';

describe('endpoints programmed ahead of the datastore', () => {
  test('a feed counts once a flush that included it has been applied, also after its echo at the written revision', () => {
    const ahead = new EndpointsAhead();
    const seq = ahead.feed('ns/a');
    assert.equal(ahead.isApplied('ns/a', 10), false, 'not flushed yet');
    const flushedUpTo = ahead.latest;
    ahead.feed('ns/b'); // arrives while that flush runs: not in it
    ahead.applied(flushedUpTo);
    assert.equal(seq, flushedUpTo);
    assert.equal(ahead.isApplied('ns/a', 10), true);
    assert.equal(ahead.isApplied('ns/b', 11), false);
    // The write's echo: nothing new for the kernel, and the waiter at that revision is satisfied.
    assert.equal(ahead.onDatastore('ns/a', { spec: {} }, true, 10), true);
    assert.equal(ahead.isApplied('ns/a', 10), true);
    assert.equal(ahead.isApplied('ns/a', 12), false, 'another revision waits for the datastore path');
    // A second event: the datastore has fully taken over.
    assert.equal(ahead.onDatastore('ns/a', { spec: { x: 1 } }, true, 13), false);
    assert.equal(ahead.isApplied('ns/a', 10), false);
  });

  test('an echo of a feed not yet applied is not "nothing new"', () => {
    const ahead = new EndpointsAhead();
    ahead.feed('ns/a');
    assert.equal(ahead.onDatastore('ns/a', { spec: {} }, true, 5), false);
    ahead.applied(ahead.latest);
    assert.equal(ahead.isApplied('ns/a', 5), true);
  });

  test('a deletion ends the feed', () => {
    const ahead = new EndpointsAhead();
    ahead.feed('ns/a');
    ahead.applied(ahead.latest);
    assert.equal(ahead.onDatastore('ns/a', undefined, false, 7), false);
    assert.equal(ahead.isApplied('ns/a', 7), false);
  });

  test("withdrawing gives back the datastore's last value of a local endpoint, once, and only for the newest feed", () => {
    const ahead = new EndpointsAhead();
    const before = { spec: { containerID: 'old' } };
    ahead.onDatastore('ns/a', before, true, 3);
    const first = ahead.feed('ns/a');
    const second = ahead.feed('ns/a');
    assert.equal(ahead.withdraw('ns/a', first), undefined, 'replaced by a newer feed');
    assert.deepEqual(ahead.withdraw('ns/a', second), { value: before });
    assert.equal(ahead.withdraw('ns/a', second), undefined, 'already withdrawn');
    const fresh = ahead.feed('ns/new');
    assert.deepEqual(ahead.withdraw('ns/new', fresh), { value: undefined }, 'no datastore value: removed');
  });

  test('nothing to withdraw once the datastore has spoken; non-local endpoints leave no value behind', () => {
    const ahead = new EndpointsAhead();
    const seq = ahead.feed('ns/a');
    ahead.onDatastore('ns/a', { spec: {} }, true, 9);
    assert.equal(ahead.withdraw('ns/a', seq), undefined);
    ahead.onDatastore('ns/remote', { spec: {} }, false, 10);
    const remote = ahead.feed('ns/remote');
    assert.deepEqual(ahead.withdraw('ns/remote', remote), { value: undefined });
  });
});
