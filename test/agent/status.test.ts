import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  endpointStatuses,
  escapeKeyPart,
  hostEndpointStatusKey,
  hostStatusKey,
  lastReportedStatusKey,
  StatusReporter,
  statusRegion,
  workloadStatusId,
  workloadStatusKey,
} from '../../src/agent/status.ts';
import { silentLogger } from '../../src/log/mod.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';

describe('status keys', () => {
  it("follow Calico's layout and escaping", () => {
    assert.equal(statusRegion(''), 'no-region');
    assert.equal(statusRegion('r1'), 'region-r1'); // libcalico-go model.RegionString
    assert.equal(escapeKeyPart('ns/pod'), 'ns%2fpod');
    assert.equal(hostStatusKey('no-region', 'h1'), '/calico/felix/v2/no-region/host/h1/status');
    assert.equal(lastReportedStatusKey('no-region', 'h1'), '/calico/felix/v2/no-region/host/h1/last_reported_status');
    const id = workloadStatusId('shop', 'h1-k8s-front-eth0', { orchestrator: 'k8s', pod: 'front', endpoint: 'eth0' });
    assert.deepEqual(id, { orchestrator: 'k8s', workload: 'shop/front', endpoint: 'eth0' });
    assert.equal(workloadStatusKey('no-region', 'h1', id), '/calico/felix/v2/no-region/host/h1/workload/k8s/shop%2ffront/endpoint/eth0');
    assert.equal(hostEndpointStatusKey('no-region', 'h1', 'h1-eth0'), '/calico/felix/v2/no-region/host/h1/endpoint/h1-eth0');
    assert.deepEqual(workloadStatusId('vms', 'vm1', { orchestrator: 'openstack', workload: 'vm1' }), { orchestrator: 'openstack', workload: 'vms/vm1', endpoint: 'eth0' });
  });

  it('endpoint statuses are the same with a key cache, and follow an identity that changed', () => {
    const a = workloadStatusId('shop', 'h1-k8s-a-eth0', { orchestrator: 'k8s', pod: 'a', endpoint: 'eth0' });
    const b = workloadStatusId('shop', 'h1-k8s-b-eth0', { orchestrator: 'k8s', pod: 'b', endpoint: 'eth0' });
    const workloadIds = new Map([
      ['shop/h1-k8s-a-eth0', a],
      ['shop/h1-k8s-b-eth0', b],
    ]);
    const input = {
      region: 'no-region',
      host: 'h1',
      programmed: { workloads: new Set(['shop/h1-k8s-a-eth0', 'shop/h1-k8s-b-eth0', 'shop/unknown']), hostEndpoints: new Set(['h1-eth0']) },
      workloadIds,
      failed: new Set(['shop/h1-k8s-b-eth0']),
    };
    const cache = new WeakMap();
    const expected = new Map([
      ['/calico/felix/v2/no-region/host/h1/workload/k8s/shop%2fa/endpoint/eth0', 'up'],
      ['/calico/felix/v2/no-region/host/h1/workload/k8s/shop%2fb/endpoint/eth0', 'error'],
      ['/calico/felix/v2/no-region/host/h1/endpoint/h1-eth0', 'up'],
    ]);
    assert.deepEqual(endpointStatuses(input), expected);
    assert.deepEqual(endpointStatuses(input, cache), expected);
    assert.deepEqual(endpointStatuses(input, cache), expected); // from the cache
    // The endpoint's pod changed: a new identity, a new key.
    workloadIds.set('shop/h1-k8s-a-eth0', workloadStatusId('shop', 'h1-k8s-a-eth0', { orchestrator: 'k8s', pod: 'a2', endpoint: 'eth0' }));
    assert.deepEqual([...endpointStatuses(input, cache).keys()][0], '/calico/felix/v2/no-region/host/h1/workload/k8s/shop%2fa2/endpoint/eth0');
  });

  it('the reporter writes differences only, batches, and survives an outage', async () => {
    const ds = new MemoryDatastore();
    const client = ds.peer();
    const r = new StatusReporter({ datastore: client, hostname: 'h1', region: 'no-region', logger: silentLogger(), ttlSeconds: 60, now: () => 1_000_000 });
    const key = (i: number) => workloadStatusKey('no-region', 'h1', { orchestrator: 'k8s', workload: `ns/p${i}`, endpoint: 'eth0' });
    r.setEndpointStatuses(new Map(Array.from({ length: 300 }, (_, i) => [key(i), 'up' as const])));
    await r.flushEndpoints();
    assert.equal((await ds.list('/calico/felix/v2/no-region/host/h1/workload/')).items.length, 300);
    assert.equal(r.endpointsDirty, false);
    const rev = await ds.currentRevision();
    await r.flushEndpoints();
    assert.equal(await ds.currentRevision(), rev, 'nothing rewritten');
    client.setReachable(false);
    r.setEndpointStatuses(new Map([[key(0), 'error']]));
    await assert.rejects(r.flushEndpoints());
    assert.equal(r.endpointsDirty, true);
    client.setReachable(true);
    await r.flushEndpoints();
    const items = (await ds.list('/calico/felix/v2/no-region/host/h1/workload/')).items;
    assert.deepEqual(items.map((kv) => [kv.key, kv.value]), [[key(0), '{"status":"error"}']]);
    await r.reportHost({ inSync: true, ready: true, lastInSync: 999_000 });
    const host = JSON.parse((await ds.get(hostStatusKey('no-region', 'h1')))!.value) as Record<string, unknown>;
    assert.deepEqual(host, { time: new Date(1_000_000).toISOString(), uptime: 0, first_update: true, in_sync: true, ready: true, last_in_sync: new Date(999_000).toISOString() });
    await r.reportHost({ inSync: true, ready: true, lastInSync: 999_000 });
    assert.equal(JSON.parse((await ds.get(hostStatusKey('no-region', 'h1')))!.value).first_update, false);
    await r.close();
    assert.equal(await ds.get(hostStatusKey('no-region', 'h1')), undefined);
    assert.notEqual(await ds.get(lastReportedStatusKey('no-region', 'h1')), undefined);
    await ds.close();
  });
});
