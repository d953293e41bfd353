// The warm-up's stand-in kernel (src/agent/warm-up-kernel.ts): it reads a load ahead's stream as the
// helper does (batches appended while it waits, until the end message), stops a stream the warm-up
// abandons, and drives the real Dataplane (its elementWriter option) without a process.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WarmUpKernel } from '../../src/agent/warm-up-kernel.ts';
import { Dataplane } from '../../src/dataplane/mod.ts';
import { AheadStream } from '../../src/dataplane/nftables/ahead-stream.ts';
import { DesiredState, rule } from '../../src/dataplane/nftables/state.ts';
import { policy, settings } from '../dataplane/updates.ts';

const dir = mkdtempSync(join(tmpdir(), 'mg-warm-kernel-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const TABLE = { family: 'inet', name: 'margay' };
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

function chains(d: DesiredState, prefix: string, n: number): string[] {
  const names = Array.from({ length: n }, (_, i) => `${prefix}${i}`);
  for (const name of names) d.setChain({ name, rules: [rule('meta l4proto 6 th dport 80 accept', 'r')] });
  return names;
}

describe('warm-up kernel', () => {
  it('reads the stream as it is written, part by part, until its end', async () => {
    const kernel = new WarmUpKernel();
    const file = join(dir, 'parts.nl');
    const stream = new AheadStream(file, TABLE, { maxBytes: 64 * 1024 });
    const d = new DesiredState();
    d.setSet({ name: 'v4-s.a', type: 'ipv4_addr', flags: [], elements: new Set(['10.0.0.1/32']) });
    const read = kernel.writer.streamBatches!(file);
    let settled = false;
    void read.then(() => (settled = true));
    stream.add(d, { chains: chains(d, 'pi-a', 3), sets: ['v4-s.a'] });
    await pause(20);
    assert.equal(kernel.counts.aheadChains, 3, 'the first part was read while the stream was open');
    assert.equal(settled, false, 'and the stream is not over');
    stream.add(d, { chains: chains(d, 'pi-b', 2), sets: [] });
    stream.end();
    await read;
    assert.deepEqual(
      { batches: kernel.counts.aheadBatches, chains: kernel.counts.aheadChains, sets: kernel.counts.aheadSets },
      { batches: 2, chains: 5, sets: 1 },
    );
    assert.ok(kernel.counts.aheadBytes > 0);
  });

  it('stops a stream that never ends when closed, with an error', async () => {
    const kernel = new WarmUpKernel();
    const file = join(dir, 'open.nl');
    const stream = new AheadStream(file, TABLE, { maxBytes: 64 * 1024 });
    const d = new DesiredState();
    const read = kernel.writer.streamBatches!(file);
    stream.add(d, { chains: chains(d, 'pi-c', 1), sets: [] });
    await pause(5);
    kernel.close();
    await assert.rejects(read, /stopped before the load-ahead stream ended/);
    stream.end();
  });

  it('drives the real Dataplane through its elementWriter option: the stream and the last transaction by netlink; with loadAheadNetlink false, the load ahead by nft', async () => {
    const run = async (loadAheadNetlink: boolean): Promise<WarmUpKernel['counts'] & { via?: string }> => {
      const kernel = new WarmUpKernel();
      const dp = new Dataplane({ runner: kernel.runner, elementWriter: kernel.writer, loadAheadNetlink, loadAheadMinPolicies: 1, switchOnNetlink: true });
      try {
        const policies = Array.from({ length: 3 }, (_, i) => policy(`np/ns/p${i}`, { tier: 'default', ingress: [{ action: 'allow' }] }));
        const result = await dp.apply([settings(), ...policies, { type: 'in-sync' }]);
        assert.equal(result.ok, true, JSON.stringify(result));
        assert.ok((result.nft.ahead?.commands ?? 0) > 0, 'a load ahead ran');
        return { ...kernel.counts, ...(result.nft.via ? { via: result.nft.via } : {}) };
      } finally {
        dp.close();
      }
    };
    const streamed = await run(true);
    assert.ok(streamed.aheadBatches >= 1 && streamed.aheadChains >= 3, JSON.stringify(streamed));
    assert.equal(streamed.nftTransactions, 0);
    assert.equal(streamed.via, 'netlink', 'the last transaction');
    assert.ok(streamed.batches >= 1);
    const byNft = await run(false);
    assert.equal(byNft.aheadBatches, 0, 'no stream');
    assert.ok(byNft.nftTransactions >= 1, 'the load ahead went to nft -f');
  });
});
