import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../src/api/mod.ts';
import { Foreground } from '../../src/agent/foreground.ts';
import { FOREGROUND_WAIT_MS, StatusPublisher } from '../../src/agent/status-publisher.ts';
import { hostStatusPrefix, workloadStatusKey } from '../../src/agent/status.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { silentLogger } from '../../src/log/mod.ts';
import { ManualClock } from '../../src/os/mod.ts';

/** Lets promise callbacks run. */
const settle = async (): Promise<void> => {
  for (let i = 0; i < 20; i++) await Promise.resolve();
};

describe('foreground work', () => {
  it('idle: at once when nothing is in progress; else when the last operation ends', async () => {
    const clock = new ManualClock();
    const fg = new Foreground(clock);
    let done = false;
    await fg.idle(1000);
    const endA = fg.begin();
    const endB = fg.begin();
    assert.equal(fg.busy, true);
    void fg.idle(1000).then(() => (done = true));
    endA();
    endA(); // ending twice counts once
    await settle();
    assert.equal(done, false, 'B is still in progress');
    endB();
    await settle();
    assert.equal(done, true);
    assert.equal(fg.busy, false);
    assert.equal(clock.pendingTimers, 0, 'the bound timer is cleared');
  });

  it('idle: after at most maxMs while work goes on', async () => {
    const clock = new ManualClock();
    const fg = new Foreground(clock);
    fg.begin();
    let done = false;
    void fg.idle(500).then(() => (done = true));
    clock.advance(499);
    await settle();
    assert.equal(done, false);
    clock.advance(1);
    await settle();
    assert.equal(done, true);
  });

  it('an endpoint status write waits while an operation is in progress, and is written once it ends (or after the bound)', async () => {
    const clock = new ManualClock();
    const fg = new Foreground(clock);
    const ds = new MemoryDatastore({ clock });
    const config = { ...defaultConfig('h1'), endpointReportingDelay: 100 };
    const pub = new StatusPublisher({ datastore: ds, config, clock, now: () => 1_000_000, logger: silentLogger(), hostState: () => ({ inSync: true, ready: true, lastInSync: undefined }), foreground: fg });
    const id = { orchestrator: 'k8s', workload: 'ns/a', endpoint: 'eth0' };
    const key = workloadStatusKey('no-region', 'h1', id);
    const written = async (): Promise<boolean> => (await ds.list(hostStatusPrefix('no-region', 'h1'))).items.some((kv) => kv.key === key);
    const update = (): void => pub.updateEndpoints({ programmed: { workloads: new Set(['ns/a']), hostEndpoints: new Set() }, workloadIds: new Map([['ns/a', id]]), failed: new Set() });

    const end = fg.begin();
    update();
    clock.advance(100); // the coalescing delay: the write is due
    await settle();
    assert.equal(await written(), false, 'not while the ADD is in progress');
    end();
    await settle();
    await settle();
    assert.equal(await written(), true, 'written once it ended');

    // A stream of operations that never pauses delays the write by the bound, no more.
    fg.begin();
    pub.updateEndpoints({ programmed: { workloads: new Set(), hostEndpoints: new Set() }, workloadIds: new Map(), failed: new Set() });
    clock.advance(100);
    await settle();
    assert.equal(await written(), true);
    clock.advance(FOREGROUND_WAIT_MS);
    await settle();
    await settle();
    assert.equal(await written(), false, 'the deletion went through after the bound');
    await pub.stop(0);
  });

  it('endpoint statuses are computed when written, from what is programmed then, not at every update', async () => {
    const clock = new ManualClock();
    const ds = new MemoryDatastore({ clock });
    const config = { ...defaultConfig('h1'), endpointReportingDelay: 100 };
    const pub = new StatusPublisher({ datastore: ds, config, clock, now: () => 1_000_000, logger: silentLogger(), hostState: () => ({ inSync: true, ready: true, lastInSync: undefined }) });
    let reads = 0;
    /** The agent's live map of workload ids, counting the statuses' reads. */
    class CountingIds<K, V> extends Map<K, V> {
      override get(key: K): V | undefined {
        reads++;
        return super.get(key);
      }
    }
    const ids = new CountingIds<string, { orchestrator: string; workload: string; endpoint: string }>();
    const programmed = { workloads: new Set<string>(), hostEndpoints: new Set<string>() };
    for (let i = 0; i < 10; i++) {
      // An ADD's flush: one more workload programmed, statuses told.
      ids.set(`ns/w${i}`, { orchestrator: 'k8s', workload: `ns/w${i}`, endpoint: 'eth0' });
      programmed.workloads.add(`ns/w${i}`);
      pub.updateEndpoints({ programmed, workloadIds: ids, failed: new Set() });
    }
    assert.equal(reads, 0, 'nothing computed per update');
    clock.advance(100);
    await settle();
    await settle();
    assert.equal(reads, 10, 'computed once, for the ten programmed');
    const keys = (await ds.list(hostStatusPrefix('no-region', 'h1'))).items.map((kv) => kv.key);
    assert.equal(keys.filter((k) => k.includes('/workload/')).length, 10, 'all ten written');
    await pub.stop(0);
  });

  it('a host report waiting for an operation writes nothing once the agent stopped meanwhile', async () => {
    const clock = new ManualClock();
    const fg = new Foreground(clock);
    const ds = new MemoryDatastore({ clock });
    const pub = new StatusPublisher({ datastore: ds, config: defaultConfig('h1'), clock, now: () => 1_000_000, logger: silentLogger(), hostState: () => ({ inSync: true, ready: true, lastInSync: undefined }), foreground: fg });
    const end = fg.begin();
    const report = pub.reportHost();
    await settle();
    pub.pause(); // stopping while the report waits
    end();
    await report;
    assert.equal((await ds.list(hostStatusPrefix('no-region', 'h1'))).items.length, 0, 'no host status written after the stop');
    await pub.stop(0);
  });
});
