/**
 * A real etcd for CLI integration tests: started before the file's tests, destroyed after, with
 * the environment the CLI reads, a scratch directory, and helpers to empty `/calico/` and to take
 * a snapshot of it (keys, values, revisions) for "nothing changed" assertions.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { after, before } from 'node:test';
import { createDatastore } from '../../src/datastore/mod.ts';
import type { Datastore } from '../../src/datastore/datastore.ts';
import { startEtcd, type EtcdHandle } from '../harness/etcd.ts';
import { margay } from './helpers.ts';

/** What useEtcdCli gives a test file; the fields are set once `before` has run. */
export interface EtcdCli {
  etcd: EtcdHandle;
  ds: Datastore;
  env: NodeJS.ProcessEnv;
  scratch: string;
  /** Deletes every key under `/calico/`. */
  clearCalico(): Promise<void>;
  /** Every key under `/calico/` with its value and revision, as one comparable string. */
  snapshot(): Promise<string>;
  /**
   * Asserts that `get -f FILE -o yaml` of an applied manifest, and the manifest itself, apply
   * again as no-ops (etcd unchanged, revisions included).
   */
  assertRoundTrip(file: string): Promise<void>;
}

/** Registers the etcd's start and clean-up with node:test; call at the top of a test file. */
export function useEtcdCli(scratchPrefix: string): EtcdCli {
  const ctx = { scratch: mkdtempSync(join(tmpdir(), scratchPrefix)) } as EtcdCli;
  ctx.clearCalico = async () => {
    const { items } = await ctx.ds.list('/calico/');
    for (let i = 0; i < items.length; i += 100) {
      await ctx.ds.txn(items.slice(i, i + 100).map((kv) => ({ op: 'delete' as const, key: kv.key })));
    }
  };
  ctx.snapshot = async () => {
    const { items } = await ctx.ds.list('/calico/');
    return JSON.stringify(items.map((kv) => [kv.key, kv.value, kv.modRevision]));
  };
  ctx.assertRoundTrip = async (file) => {
    const got = await margay(['get', '-f', file, '-o', 'yaml'], { env: ctx.env });
    assert.equal(got.code, 0, got.stderr);
    const roundTrip = join(ctx.scratch, `rt-${basename(file)}`);
    writeFileSync(roundTrip, got.stdout);
    const before = await ctx.snapshot();
    const again = await margay(['apply', '-f', roundTrip], { env: ctx.env });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(await ctx.snapshot(), before, 'applying get -o yaml output changed nothing');
    const reapply = await margay(['apply', '-f', file], { env: ctx.env });
    assert.equal(reapply.code, 0, reapply.stderr);
    assert.equal(await ctx.snapshot(), before, 'applying the original again changed nothing');
  };
  before(async () => {
    ctx.etcd = await startEtcd();
    ctx.ds = createDatastore({ type: 'etcdv3', etcdEndpoints: ctx.etcd.endpoints });
    ctx.env = { DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: ctx.etcd.endpoints.join(',') };
  });
  after(async () => {
    await ctx.ds?.close();
    await ctx.etcd?.destroy();
    rmSync(ctx.scratch, { recursive: true, force: true });
  });
  return ctx;
}
