// Event sequencer: in-sync gating, coalescing, ordering.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { EventSequencer } from '../../src/calc/event-sequencer.ts';
import type { CompiledPolicy, DataplaneSettings, WorkloadEndpointPlan } from '../../src/calc/model.ts';
import { summary, types } from './helpers.ts';

const policy = (key: string, n = 0): CompiledPolicy => ({
  key,
  ingress: Array.from({ length: n }, (_, index) => ({ match: { src: {}, dst: {} }, action: 'allow' as const, origin: { policy: key, direction: 'ingress' as const, index } })),
  egress: [],
});

const workload = (key: string, profiles: string[] = []): WorkloadEndpointPlan => ({
  key,
  interfaceName: 'cali1',
  addresses: ['10.0.0.1/32'],
  allowSpoofedSourcePrefixes: [],
  tiers: [],
  profiles,
});

const settings = (logPrefix = 'calico-packet'): DataplaneSettings => ({
  interfacePrefixes: ['cali'],
  defaultEndpointToHostAction: 'Drop',
  failsafeInbound: [],
  failsafeOutbound: [],
  ipv6Enabled: true,
  natOutgoingPools: [],
  allPools: [],
  logPrefix,
});

describe('event sequencer - in-sync gating', () => {
  it('emits nothing before in-sync, then the full state followed by in-sync', () => {
    const seq = new EventSequencer();
    seq.onSettings(settings());
    seq.onIpSetAdded('s:a', 'net');
    seq.onIpSetMemberAdded('s:a', '10.0.0.1/32');
    seq.onPolicyUpdate(policy('gnp/p'));
    seq.onWorkloadUpdate(workload('ns/w'));
    assert.deepEqual(seq.flush(), []);
    assert.deepEqual(seq.flush(), []);
    seq.onInSync();
    assert.deepEqual(summary(seq.flush()), ['settings', 'ipset-update s:a [10.0.0.1/32]', 'policy-update gnp/p', 'workload-update ns/w', 'in-sync']);
    assert.deepEqual(seq.flush(), [], 'in-sync is sent once; nothing pending');
  });

  it('in-sync with nothing to send still says in-sync', () => {
    const seq = new EventSequencer();
    seq.onInSync();
    assert.deepEqual(types(seq.flush()), ['in-sync']);
  });
});

describe('event sequencer - coalescing', () => {
  const synced = (): EventSequencer => {
    const seq = new EventSequencer();
    seq.onInSync();
    seq.flush();
    return seq;
  };

  it('an add then remove within one flush never reaches the dataplane', () => {
    const seq = synced();
    seq.onIpSetAdded('s:a', 'net');
    seq.onIpSetMemberAdded('s:a', '10.0.0.1/32');
    seq.onPolicyUpdate(policy('gnp/p'));
    seq.onWorkloadUpdate(workload('ns/w'));
    seq.onRouteUpdate({ type: 'blackhole', dst: '10.0.0.0/26' });
    seq.onRouteRemove('10.0.0.0/26');
    seq.onWorkloadRemove('ns/w');
    seq.onPolicyRemove('gnp/p');
    seq.onIpSetRemoved('s:a');
    assert.deepEqual(seq.flush(), []);
  });

  it('member churn becomes one delta; cancelling changes vanish', () => {
    const seq = synced();
    seq.onIpSetAdded('s:a', 'net');
    seq.onIpSetMemberAdded('s:a', '10.0.0.1/32');
    seq.onIpSetMemberAdded('s:a', '10.0.0.2/32');
    seq.flush();
    seq.onIpSetMemberAdded('s:a', '10.0.0.3/32');
    seq.onIpSetMemberRemoved('s:a', '10.0.0.1/32');
    seq.onIpSetMemberAdded('s:a', '10.0.0.4/32');
    seq.onIpSetMemberRemoved('s:a', '10.0.0.4/32');
    seq.onIpSetMemberRemoved('s:a', '10.0.0.2/32');
    seq.onIpSetMemberAdded('s:a', '10.0.0.2/32');
    assert.deepEqual(seq.flush(), [{ type: 'ipset-delta', id: 's:a', added: ['10.0.0.3/32'], removed: ['10.0.0.1/32'] }]);
    seq.onIpSetMemberAdded('s:a', '10.0.0.9/32');
    seq.onIpSetMemberRemoved('s:a', '10.0.0.9/32');
    assert.deepEqual(seq.flush(), []);
  });

  it('a set removed and re-added in one flush is sent whole', () => {
    const seq = synced();
    seq.onIpSetAdded('s:a', 'net');
    seq.onIpSetMemberAdded('s:a', '10.0.0.1/32');
    seq.flush();
    seq.onIpSetRemoved('s:a');
    seq.onIpSetAdded('s:a', 'net');
    seq.onIpSetMemberAdded('s:a', '10.0.0.2/32');
    assert.deepEqual(seq.flush(), [{ type: 'ipset-update', id: 's:a', kind: 'net', members: ['10.0.0.2/32'] }]);
  });

  it('updates equal to what was last sent are dropped; the latest of several wins', () => {
    const seq = synced();
    seq.onPolicyUpdate(policy('gnp/p', 1));
    seq.flush();
    seq.onPolicyUpdate(policy('gnp/p', 2));
    seq.onPolicyUpdate(policy('gnp/p', 1));
    assert.deepEqual(seq.flush(), []);
    seq.onPolicyUpdate(policy('gnp/p', 2));
    seq.onPolicyUpdate(policy('gnp/p', 3));
    const out = seq.flush();
    assert.equal(out.length, 1);
    assert.equal(out[0]!.type === 'policy-update' && out[0]!.policy.ingress.length, 3);
  });

  it('the object last sent, handed over again, is dropped without being serialised', () => {
    const seq = synced();
    let serialised = 0;
    // Frozen: what the sequencer sent is never changed afterwards (the invariant its comparison rests on).
    const sent = Object.freeze({ ...workload('ns/w'), toJSON: () => ++serialised });
    seq.onWorkloadUpdate(sent);
    assert.equal(seq.flush().length, 1);
    seq.onWorkloadUpdate(sent);
    assert.deepEqual(seq.flush(), []);
    assert.equal(serialised, 0);
    seq.onWorkloadUpdate(workload('ns/w', ['kns.a']));
    assert.equal(seq.flush().length, 1);
    assert.equal(serialised, 1, 'a new object is compared with the one sent');
  });

  it('remove then re-add of what was sent is no change', () => {
    const seq = synced();
    seq.onWorkloadUpdate(workload('ns/w'));
    seq.flush();
    seq.onWorkloadRemove('ns/w');
    seq.onWorkloadUpdate(workload('ns/w'));
    assert.deepEqual(seq.flush(), []);
  });

  it('unchanged settings are not re-sent', () => {
    const seq = synced();
    seq.onSettings(settings());
    assert.deepEqual(types(seq.flush()), ['settings']);
    seq.onSettings(settings());
    assert.deepEqual(seq.flush(), []);
    seq.onSettings(settings('x'));
    assert.deepEqual(types(seq.flush()), ['settings']);
  });

  it('removing something never sent sends nothing', () => {
    const seq = synced();
    seq.onWorkloadRemove('ns/never');
    seq.onPolicyRemove('gnp/never');
    seq.onRouteRemove('10.9.9.9/32');
    assert.deepEqual(seq.flush(), []);
  });
});

describe('event sequencer - ordering', () => {
  it('creates in dependency order, removals in reverse', () => {
    const seq = new EventSequencer();
    seq.onInSync();
    seq.onIpSetAdded('s:old', 'net');
    seq.onPolicyUpdate(policy('gnp/old'));
    seq.onWorkloadUpdate(workload('ns/old'));
    seq.onHostEndpointUpdate({ key: 'h-old', interfaceName: 'eth0', addresses: [], tiers: [], untrackedTiers: [], preDnatTiers: [], forwardTiers: [], profiles: [] });
    seq.onRouteUpdate({ type: 'workload', dst: '10.0.0.1/32', interfaceName: 'cali1' });
    seq.onIpSetAdded('s:kept', 'net');
    seq.flush();

    // Interleave removes and adds in the worst order; the batch must still be ordered.
    seq.onRouteRemove('10.0.0.1/32');
    seq.onWorkloadRemove('ns/old');
    seq.onHostEndpointRemove('h-old');
    seq.onPolicyRemove('gnp/old');
    seq.onIpSetRemoved('s:old');
    seq.onRouteUpdate({ type: 'workload', dst: '10.0.0.2/32', interfaceName: 'cali2' });
    seq.onWorkloadUpdate(workload('ns/new', ['pro/x']));
    seq.onPolicyUpdate(policy('pro/x'));
    seq.onIpSetMemberAdded('s:kept', '10.0.0.5/32');
    seq.onIpSetAdded('s:new', 'ip-port');
    seq.onIpSetMemberAdded('s:new', '10.0.0.2,tcp:80');
    seq.onSettings(settings());
    assert.deepEqual(summary(seq.flush()), [
      'settings',
      'ipset-update s:new [10.0.0.2,tcp:80]',
      'ipset-delta s:kept +[10.0.0.5/32] -[]',
      'policy-update pro/x',
      'workload-update ns/new',
      'route-update workload 10.0.0.2/32',
      'route-remove 10.0.0.1/32',
      'workload-remove ns/old',
      'host-endpoint-remove h-old',
      'policy-remove gnp/old',
      'ipset-remove s:old',
    ]);
  });

  it('sorts within a group so batches are deterministic', () => {
    const seq = new EventSequencer();
    seq.onInSync();
    for (const k of ['np/b/x', 'gnp/z', 'pro/a', 'np/a/y']) seq.onPolicyUpdate(policy(k));
    assert.deepEqual(summary(seq.flush()).slice(0, 4), ['policy-update gnp/z', 'policy-update np/a/y', 'policy-update np/b/x', 'policy-update pro/a']);
  });
});

describe('event sequencer - invariants', () => {
  it('throws on members of unknown sets and double adds', () => {
    const seq = new EventSequencer();
    assert.throws(() => seq.onIpSetMemberAdded('s:nope', '10.0.0.1/32'), /unknown IP set/);
    assert.throws(() => seq.onIpSetRemoved('s:nope'), /unknown IP set/);
    seq.onInSync();
    seq.onIpSetAdded('s:a', 'net');
    seq.flush();
    assert.throws(() => seq.onIpSetAdded('s:a', 'net'), /added twice/);
  });
});
