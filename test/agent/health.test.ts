import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { HealthAggregator, renderHealthText, startHealthServer } from '../../src/agent/health.ts';
import { AgentMetrics, RESYNC_STATE, startMetricsServer } from '../../src/agent/metrics.ts';
import { ManualClock } from '../../src/os/mod.ts';

describe('health aggregator', () => {
  it('starts live and not ready; ready only when every readiness reporter is', () => {
    const h = new HealthAggregator(new ManualClock());
    h.register('datastore', { live: false, ready: true });
    h.register('dataplane');
    assert.deepEqual([h.live, h.ready], [true, false]);
    h.report('datastore', { live: true, ready: true });
    assert.equal(h.ready, false);
    h.report('dataplane', { live: true, ready: true });
    assert.equal(h.ready, true);
    h.report('datastore', { live: true, ready: false, detail: 'disconnected' });
    assert.deepEqual([h.live, h.ready], [true, false]);
  });

  it('liveness ignores readiness-only reporters and follows the others', () => {
    const h = new HealthAggregator(new ManualClock());
    h.register('datastore', { live: false, ready: true });
    h.register('dataplane', { live: true, ready: true });
    h.report('datastore', { live: false, ready: false });
    assert.equal(h.live, true);
    h.report('dataplane', { live: false, ready: true, detail: 'stuck' });
    assert.equal(h.live, false);
    assert.equal(h.ready, false, 'the datastore is not ready');
  });

  it('a reporter silent past its timeout is neither live nor ready', () => {
    const clock = new ManualClock();
    const h = new HealthAggregator(clock);
    h.register('loop', { timeoutMs: 1000 });
    h.report('loop', { live: true, ready: true });
    clock.advance(1000);
    assert.deepEqual([h.live, h.ready], [true, true]);
    clock.advance(1);
    assert.deepEqual([h.live, h.ready], [false, false]);
    const s = h.summary();
    assert.equal(s.reporters[0]!.timedOut, true);
    assert.match(s.reporters[0]!.detail, /no report for 1001 ms \(timeout 1000 ms\)/);
    h.report('loop', { live: true, ready: true });
    assert.deepEqual([h.live, h.ready], [true, true]);
  });

  it('renders a table', () => {
    const h = new HealthAggregator(new ManualClock());
    h.register('datastore', { live: false, ready: true });
    h.report('datastore', { live: true, ready: false, detail: 'resources: disconnected' });
    const text = renderHealthText(h.summary(), 'ready');
    assert.match(text, /^readiness: FAILED\n/);
    assert.match(text, /COMPONENT\s+LIVE\s+READY\s+DETAIL/);
    assert.match(text, /datastore\s+-\s+NO\s+resources: disconnected/);
  });
});

describe('health and metrics servers', () => {
  it('serves /liveness and /readiness with 200 or 503, text or JSON', async () => {
    const h = new HealthAggregator(new ManualClock());
    h.register('dataplane');
    const server = await startHealthServer(h, '127.0.0.1', 0);
    try {
      const base = `http://127.0.0.1:${server.port}`;
      assert.equal((await fetch(`${base}/liveness`)).status, 200);
      const notReady = await fetch(`${base}/readiness`);
      assert.equal(notReady.status, 503);
      assert.match(await notReady.text(), /readiness: FAILED/);
      h.report('dataplane', { live: true, ready: true });
      const ready = await fetch(`${base}/readiness?format=json`);
      assert.equal(ready.status, 200);
      const body = (await ready.json()) as { ready: boolean; reporters: unknown[] };
      assert.equal(body.ready, true);
      assert.equal(body.reporters.length, 1);
      assert.equal((await fetch(`${base}/other`)).status, 404);
      assert.equal((await fetch(`${base}/readiness`, { method: 'POST' })).status, 404);
    } finally {
      await server.close();
    }
  });

  it('a busy port is an error', async () => {
    const h = new HealthAggregator(new ManualClock());
    const first = await startHealthServer(h, '127.0.0.1', 0);
    try {
      await assert.rejects(startHealthServer(h, '127.0.0.1', first.port), /EADDRINUSE/);
    } finally {
      await first.close();
    }
  });

  it('serves the metrics of its own registry', async () => {
    const a = new AgentMetrics({ processMetrics: false });
    const b = new AgentMetrics({ processMetrics: false });
    a.activeLocalEndpoints.set(3);
    a.dataplaneErrors.inc({ operation: 'apply' });
    a.dataplaneApplySeconds.observe(0.02);
    a.resyncState.set(RESYNC_STATE.inSync);
    const server = await startMetricsServer(a, '127.0.0.1', 0);
    try {
      const res = await fetch(`http://127.0.0.1:${server.port}/metrics`);
      assert.equal(res.status, 200);
      assert.match(res.headers.get('content-type') ?? '', /text\/plain/);
      const text = await res.text();
      assert.match(text, /^margay_active_local_endpoints 3$/m);
      assert.match(text, /^margay_dataplane_errors_total\{operation="apply"\} 1$/m);
      assert.match(text, /^margay_dataplane_errors_total\{operation="resync"\} 0$/m);
      assert.match(text, /^margay_dataplane_apply_seconds_count 1$/m);
      assert.match(text, /^margay_resync_state 3$/m);
      assert.match(text, /^# TYPE margay_policy_programming_latency_seconds histogram$/m);
      assert.match(text, /^# TYPE margay_calc_graph_update_seconds histogram$/m);
      for (const name of ['margay_active_local_policies', 'margay_active_local_selectors', 'margay_in_sync', 'margay_cluster_num_hosts']) {
        assert.match(text, new RegExp(`^# TYPE ${name} gauge$`, 'm'));
      }
      assert.doesNotMatch(text, /process_cpu/);
      // Registries are separate.
      assert.match(await b.text(), /^margay_active_local_endpoints 0$/m);
      assert.equal((await fetch(`http://127.0.0.1:${server.port}/`)).status, 404);
    } finally {
      await server.close();
    }
  });

  it('process metrics are on by default', async () => {
    const m = new AgentMetrics();
    assert.match(await m.text(), /^process_cpu_user_seconds_total /m);
  });
});
