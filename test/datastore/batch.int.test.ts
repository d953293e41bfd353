/**
 * Batches larger than one etcd transaction against a real etcd (its default limits: 128
 * operations, 1.5 MiB per request): a 1,000-resource `margay apply` whose last transaction fails
 * leaves every key exactly as it was — values, creation and modification revisions — and one
 * whose last transaction etcd itself refuses as too large does the same.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parseMarker } from '../../src/datastore/batch.ts';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import { findKind } from '../../src/api/mod.ts';
import { BATCH_MARKERS_PREFIX, BATCHES_PREFIX } from '../../src/datastore/keys.ts';
import { margay } from '../cli/helpers.ts';
import { startEtcd, type EtcdHandle } from '../harness/etcd.ts';
import { dump, FaultyDatastore } from './faulty.ts';

let etcd: EtcdHandle;
let ds: EtcdDatastore;
const scratch = mkdtempSync(join(tmpdir(), 'margay-batch-'));

before(async () => {
  // etcd's default operation limit, stated so the test does not depend on a packager's default;
  // a request limit of 256 KiB (the client is not told) for the "too large" case.
  etcd = await startEtcd({ extraArgs: ['--max-txn-ops=128', '--max-request-bytes=262144'] });
  ds = new EtcdDatastore({ endpoints: etcd.endpoints });
});
after(async () => {
  await ds?.close();
  await etcd?.destroy();
  rmSync(scratch, { recursive: true, force: true });
});

/** `count` GlobalNetworkPolicies named `<prefix>-<i>`, selector version `v`, one document each. */
function policies(prefix: string, count: number, v: string, extra: Record<string, unknown> = {}): string {
  return Array.from({ length: count }, (_, i) =>
    JSON.stringify({
      apiVersion: 'projectcalico.org/v3',
      kind: 'GlobalNetworkPolicy',
      metadata: { name: `${prefix}-${i}`, ...extra },
      spec: { selector: `app == "${v}-${i}"`, ingress: [{ action: 'Allow', source: { nets: ['10.0.0.0/8'] } }] },
    }),
  ).join('\n---\n');
}

function file(name: string, text: string): string {
  const path = join(scratch, name);
  writeFileSync(path, text);
  return path;
}

describe('batches larger than one transaction - real etcd', () => {
  it('a 1,000-resource apply whose last transaction fails leaves etcd exactly as it was', { timeout: 120_000 }, async () => {
    // 100 policies exist; the apply updates them and creates 900 more: 9 transactions (127
    // writes and the marker each), the updates last, the failure on that last one.
    assert.equal((await margay(['apply', '-f', file('base.yaml', policies('p', 100, 'old'))], { datastore: ds })).code, 0);
    const input = file('big.yaml', `${policies('p', 100, 'new')}\n---\n${policies('q', 900, 'new')}`);
    const before = await dump(ds, '/calico/');
    const faulty = new FaultyDatastore(ds, (_n, ops) => (ops.some((o) => o.op === 'delete' && o.key.startsWith(BATCH_MARKERS_PREFIX)) && ops.length > 1 ? 'rejected' : undefined));
    const started = performance.now();
    const run = await margay(['apply', '-f', input], { datastore: faulty });
    console.log(`# 1,000-resource apply whose 9th and last transaction failed: ${faulty.txns} transactions with the undo, ${Math.round(performance.now() - started)} ms`);
    assert.equal(run.code, 1);
    assert.match(run.stderr, /^etcd refused the request: etcdserver: request is too large \(injected\) \(a batch of 1000 writes in 9 transactions: the 900 writes already made were undone; the datastore is as before\)\n$/);
    assert.equal(await dump(ds, '/calico/'), before, 'every key, value and revision as before');
    // And without the fault, the same apply goes through whole.
    assert.equal((await margay(['apply', '-f', input], { datastore: ds })).code, 0);
    assert.equal((await ds.list('/calico/resources/v3/projectcalico.org/globalnetworkpolicies/')).items.length, 1000);
  });

  it('a last transaction etcd itself refuses as too large: undone as well', { timeout: 60_000 }, async () => {
    // 200 small creates go first; the last transaction carries three updates of ~100 KB each,
    // which the client packs as fitting (it assumes etcd's default 1.5 MiB) but this etcd refuses.
    const annotation = { annotations: { note: 'x'.repeat(100_000) } };
    assert.equal((await margay(['apply', '-f', file('three.yaml', policies('big', 3, 'old'))], { datastore: ds })).code, 0);
    const before = await dump(ds, '/calico/');
    const text = `${policies('big', 3, 'new', annotation)}\n---\n${policies('small', 200, 'new')}`;
    const run = await margay(['apply', '-f', file('too-large.yaml', text)], { datastore: ds });
    assert.equal(run.code, 1, run.stdout);
    assert.match(run.stderr, /request is too large.*the 200 writes already made were undone; the datastore is as before/);
    assert.equal(await dump(ds, '/calico/'), before);
  });

  it('a `margay apply` killed (SIGKILL) half-way: readers see the store as before, the next command rolls it back', { timeout: 120_000 }, async () => {
    const gnps = findKind('GlobalNetworkPolicy')!;
    const base = (await new ResourceStore(ds).list(gnps)).items.map((r) => `${r.metadata.name}=${JSON.stringify(r.spec)}`).sort();
    const before = await dump(ds, '/calico/');
    const input = file('killed.yaml', `${policies('p', 100, 'killed')}\n---\n${policies('k', 3000, 'killed')}`);
    // Watch the markers; kill the writer by its PID once two transactions of its chain are in.
    const watch = ds.watch(BATCH_MARKERS_PREFIX, (await ds.currentRevision()) + 1);
    const child = spawn(process.execPath, ['bin/margay.js', 'apply', '-f', input], {
      env: { ...process.env, DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: etcd.endpoints.join(',') },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    const exited = new Promise<NodeJS.Signals | null>((resolve) => child.on('exit', (_code, signal) => resolve(signal)));
    let killedAt: number | undefined;
    try {
      for await (const events of watch.events) {
        const step = events.map((e) => (e.type === 'put' ? parseMarker({ key: e.key, value: e.value ?? '', modRevision: 0, createRevision: 0 })?.step : undefined)).find((st) => st !== undefined && st >= 1);
        if (step !== undefined) {
          process.kill(child.pid!, 'SIGKILL');
          killedAt = step;
          break;
        }
      }
    } finally {
      await watch.cancel();
    }
    assert.equal(await exited, 'SIGKILL', 'the writer was killed, not finished');
    assert.ok(killedAt !== undefined && killedAt >= 1);
    // What it left: part of its creates, its marker, its owner key (until the lease lapses).
    const raw = (await ds.list('/calico/resources/v3/projectcalico.org/globalnetworkpolicies/k-')).items.length;
    assert.ok(raw >= 250 && raw < 3000, `the killed apply left ${raw} of its creates`);
    console.log(`# killed after transaction ${killedAt! + 1} of its chain: ${raw} of 3,000 creates in etcd, rolled back by the next reader`);
    assert.equal((await ds.list(BATCH_MARKERS_PREFIX)).items.length, 1);
    // A reader meanwhile sees the store as before the batch (it waits, then rolls the batch back).
    const seen = (await new ResourceStore(ds).list(gnps)).items.map((r) => `${r.metadata.name}=${JSON.stringify(r.spec)}`).sort();
    assert.deepEqual(seen, base);
    assert.equal(await dump(ds, '/calico/'), before, 'every key, value and revision as before: the batch was rolled back');
    assert.deepEqual((await ds.list(BATCHES_PREFIX)).items, [], 'no owner key or undo record left');
    // And the same apply run again goes through whole.
    const again = await margay(['apply', '-f', input], { datastore: ds });
    assert.equal(again.code, 0, again.stderr);
    assert.equal((await ds.list('/calico/resources/v3/projectcalico.org/globalnetworkpolicies/k-')).items.length, 3000);
  });
});
