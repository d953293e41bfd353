/**
 * The code cache's warm-up (src/agent/warm-up.ts): it must run a cold start's path (the agent,
 * the graph, the render, the netlink encoding) on valid resources, and leave V8's flags alone.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { test } from 'node:test';
import { cachedDataVersionTag } from 'node:v8';
import { warmUpResources } from '../../src/agent/warm-up-resources.ts';
import { warmUp } from '../../src/agent/warm-up.ts';
import { validateResource } from '../../src/api/mod.ts';
import { AheadStream } from '../../src/dataplane/nftables/ahead-stream.ts';

test('the warm-up\'s resources are what `margay apply` accepts, of every kind a host\'s render uses', () => {
  const resources = warmUpResources();
  for (const r of resources) assert.doesNotThrow(() => validateResource(r), `${r.kind} ${r.metadata.name}`);
  const kinds = new Set(resources.map((r) => r.kind));
  for (const kind of ['Tier', 'Profile', 'WorkloadEndpoint', 'NetworkPolicy', 'GlobalNetworkPolicy', 'HostEndpoint', 'GlobalNetworkSet', 'NetworkSet', 'IPPool']) {
    assert.ok(kinds.has(kind), `a ${kind}`);
  }
});

test('the warm-up runs a cold start: the render of every policy list, the load ahead in parts, the last transaction by netlink', async () => {
  const tag = cachedDataVersionTag();
  const report = await warmUp();
  assert.equal(cachedDataVersionTag(), tag, "V8's flags are unchanged (a cache written after a change is rejected)");
  assert.equal(report.localEndpoints, 25, '24 workload endpoints and the host endpoint');
  assert.ok(report.aheadSets > 10 && report.aheadChains > 100, `the sets and policies went ahead: ${JSON.stringify(report)}`);
  assert.ok(report.aheadChains >= 24 + 24, 'and the 24 policy lists (a chain per direction at least), streamed while they rendered');
  assert.ok(report.aheadBatches >= 4, 'in parts: the sets and policies, then the lists in parts of 8');
  assert.ok(report.aheadCommands > 500 && report.aheadBytes > 100_000, JSON.stringify(report));
  assert.ok(report.batches >= 1 && report.batchBytes > 0 && report.batchChains > 0, 'the last transaction went as netlink batches');
  assert.equal(report.nftTransactions, 0, 'nothing went to nft');
  assert.ok(report.ipCommands >= 2, 'the routes were read (both families) and written through ip');
});

test('a load-ahead stream that never ends fails the warm-up at its deadline (no hang), and its file is removed', { timeout: 30_000 }, async () => {
  const end = AheadStream.prototype.end;
  const files: string[] = [];
  const before = new Set(readdirSync(tmpdir()).filter((f) => f.startsWith('margay-ahead-')));
  // The end message is never written, as when writing it failed (the driver swallows that).
  AheadStream.prototype.end = function (this: AheadStream) {
    files.push('ended');
  };
  try {
    await assert.rejects(warmUp({ deadlineMs: 1500 }), /did not apply its first flush within 1.5 s/);
  } finally {
    AheadStream.prototype.end = end;
  }
  assert.ok(files.length > 0, 'the stream was asked to end');
  const left = readdirSync(tmpdir()).filter((f) => f.startsWith('margay-ahead-') && !before.has(f));
  assert.deepEqual(left, [], 'no stream file left');
});
