// The nftables driver over a runner that plays the kernel: what it keeps as its view of the table,
// which transactions go to the kernel as netlink batches, and when unused policy objects wait.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { applyToView, computeTransaction, type TableRef } from '../../src/dataplane/nftables/diff.ts';
import { MAX_NETLINK_BATCH, MAX_ORPHANS, NftablesDriver } from '../../src/dataplane/nftables/driver.ts';
import { encodeTransactionBatch } from '../../src/dataplane/nftables/netlink-batch.ts';
import { emptyKernelTable, type KernelTable } from '../../src/dataplane/nftables/kernel.ts';
import { DesiredState, rule } from '../../src/dataplane/nftables/state.ts';
import type { CommandRunner } from '../../src/os/mod.ts';

const T: TableRef = { family: 'inet', name: 'margay' };

/** A kernel whose table holds one plain set with 10.0.0.1; records the transactions it is given. */
function kernel(): { runner: CommandRunner; transactions: string[] } {
  const listing = JSON.stringify({
    nftables: [
      { table: { family: 'inet', name: 'margay' } },
      { set: { family: 'inet', table: 'margay', name: 'v4-s.p', type: 'ipv4_addr', elem: ['10.0.0.1'] } },
    ],
  });
  const transactions: string[] = [];
  const runner: CommandRunner = async (_cmd, args, options) => {
    if (args.includes('list')) return { code: 0, stdout: listing, stderr: '' };
    transactions.push(String(options?.input ?? ''));
    return { code: 0, stdout: '', stderr: '' };
  };
  return { runner, transactions };
}

describe('nftables driver - the view of the kernel', () => {
  it('takes the desired sets when a full read finds nothing to do, and diffs the next change against them', async () => {
    const { runner, transactions } = kernel();
    const driver = new NftablesDriver(runner);
    const d = new DesiredState();
    d.setSet({ name: 'v4-s.p', type: 'ipv4_addr', flags: [], elements: new Set(['10.0.0.1/32']) });
    const first = await driver.apply(d, d.takeDirty(), { full: true });
    assert.equal(first.commands, 0);
    assert.equal(transactions.length, 0);
    const view = (driver as unknown as { view: KernelTable }).view;
    assert.equal(view.sets.get('v4-s.p')!.elements, d.sets.get('v4-s.p')!.elements, 'shared, not a parsed copy');

    d.setSet({ name: 'v4-s.p', type: 'ipv4_addr', flags: [], elements: new Set(['10.0.0.1/32', '10.0.0.2/32']) });
    const second = await driver.apply(d, d.takeDirty());
    assert.equal(second.applied, true);
    assert.deepEqual(transactions, ['add element inet margay v4-s.p { 10.0.0.2 }\n']);
  });
});

/** A driver whose nft runs are recorded (none expected) and whose batches are kept. */
function driverWithWriter(options: { fail?: boolean } = {}) {
  const nftTexts: string[] = [];
  const batches: Buffer[] = [];
  const runner: CommandRunner = async (_cmd, args, runOptions) => {
    if (args.includes('list')) return { code: 0, stdout: '{"nftables":[]}', stderr: '' };
    nftTexts.push(String(runOptions?.input ?? ''));
    return { code: 0, stdout: '', stderr: '' };
  };
  const elementWriter = {
    applyBatch: async (batch: Buffer) => {
      if (options.fail) throw new Error('nftables batch: No such file or directory');
      batches.push(batch);
    },
  };
  return { driver: new NftablesDriver(runner, { elementWriter }), nftTexts, batches };
}

function desiredTable(): DesiredState {
  const d = new DesiredState();
  d.setSet({ name: 'v4-s.a', type: 'ipv4_addr', flags: [], elements: new Set(['10.0.0.1/32']) });
  d.setChain({ name: 'pi-gnp/a', rules: [rule('ip saddr @v4-s.a accept', 'gnp/a ingress 0')] });
  d.setChain({ name: 'twp_1', rules: [rule('jump pi-gnp/a', 'tier')] });
  d.setChain({ name: 'twp_2', rules: [rule('counter drop', 'end')] });
  d.defineMap('to-wl', 'ifname');
  d.setMapElement('to-wl', 'cali1', 'goto twp_1');
  d.setMapElement('to-wl', 'cali2', 'goto twp_2');
  return d;
}

describe('nftables driver - element-only transactions as netlink batches', () => {
  it('sends an element-only change as one batch and nothing to nft', async () => {
    const { driver, nftTexts, batches } = driverWithWriter();
    const d = desiredTable();
    await driver.apply(d, d.takeDirty(), { full: true });
    assert.equal(nftTexts.length, 1, 'the first sync goes to nft');
    d.setSet({ name: 'v4-s.a', type: 'ipv4_addr', flags: [], elements: new Set(['10.0.0.1/32', '10.0.0.2/32']) });
    d.setMapElement('to-wl', 'cali3', 'goto twp_1');
    const out = await driver.apply(d, d.takeDirty());
    assert.equal(out.via, 'netlink');
    assert.equal(out.applied, true);
    assert.equal(batches.length, 1);
    assert.equal(nftTexts.length, 1);
    assert.ok(batches[0]!.includes(Buffer.from('cali3')));
    assert.ok(batches[0]!.includes(Buffer.from([10, 0, 0, 2])), 'the plain set element (a host CIDR kept) as an address');
  });

  it('defers the deletion of a policy list nobody uses, and finds it right when it comes back', async () => {
    const { driver, nftTexts, batches } = driverWithWriter();
    const d = desiredTable();
    await driver.apply(d, d.takeDirty(), { full: true });
    // cali2 moves to twp_1: twp_2 is unused and dropped.
    d.setMapElement('to-wl', 'cali2', 'goto twp_1');
    d.deleteChain('twp_2');
    const moved = await driver.apply(d, d.takeDirty());
    assert.equal(moved.via, 'netlink');
    assert.equal(driver.orphanCount, 1);
    assert.equal(batches.length, 1);
    // Moving it back finds twp_2 still right in the kernel: elements only again.
    d.setChain({ name: 'twp_2', rules: [rule('counter drop', 'end')] });
    d.setMapElement('to-wl', 'cali2', 'goto twp_2');
    const back = await driver.apply(d, d.takeDirty());
    assert.equal(back.via, 'netlink');
    assert.equal(nftTexts.length, 1);
    // A change nft must make (a new interval set whose ranges touch) leaves the orphan waiting too.
    d.setMapElement('to-wl', 'cali2', 'goto twp_1');
    d.deleteChain('twp_2');
    await driver.apply(d, d.takeDirty());
    d.setSet({ name: 'v4n-s.b', type: 'ipv4_addr', flags: ['interval'], elements: new Set(['10.0.3.0/24', '10.0.4.0/24']) });
    d.setChain({ name: 'twp_3', rules: [rule('ip saddr @v4n-s.b counter accept', 'end')] });
    const viaNft = await driver.apply(d, d.takeDirty());
    assert.equal(viaNft.via, 'nft');
    assert.doesNotMatch(nftTexts[1]!, /twp_2/);
    assert.equal(driver.orphanCount, 1);
  });

  it('deletes every orphan, through nft, when more than MAX_ORPHANS would wait', async () => {
    const { driver, nftTexts } = driverWithWriter();
    const d = desiredTable();
    const names = Array.from({ length: MAX_ORPHANS + 1 }, (_, i) => `pi-gnp/p${i}`);
    for (const name of names) d.setChain({ name, rules: [rule('counter accept', name)] });
    await driver.apply(d, d.takeDirty(), { full: true });
    for (const name of names.slice(0, 10)) d.deleteChain(name);
    assert.equal((await driver.apply(d, d.takeDirty())).applied, false, 'ten wait: nothing to send');
    assert.equal(driver.orphanCount, 10);
    for (const name of names.slice(10)) d.deleteChain(name);
    const out = await driver.apply(d, d.takeDirty());
    assert.equal(out.via, 'nft');
    assert.equal(driver.orphanCount, 0);
    assert.equal(nftTexts[1]!.match(/^delete chain /gm)?.length, MAX_ORPHANS + 1);
  });

  it('never defers other objects, and a failed batch falls back to a full re-read and nft', async () => {
    const { driver, nftTexts } = driverWithWriter({ fail: true });
    const d = desiredTable();
    d.setChain({ name: 'fip-dnat', rules: [rule('counter accept', 'fip')] });
    await driver.apply(d, d.takeDirty(), { full: true });
    d.deleteChain('fip-dnat');
    const dropped = await driver.apply(d, d.takeDirty());
    assert.equal(dropped.via, 'nft', 'the batch was refused: a full re-read and nft');
    assert.equal(dropped.retried, true);
    assert.doesNotMatch(nftTexts[1]!, /fip-dnat/, 'not a policy object: gone at once (the repair rewrote the table without it)');
    d.setMapElement('to-wl', 'cali9', 'goto twp_1');
    const failed = await driver.apply(d, d.takeDirty());
    assert.equal(failed.retried, true);
    assert.equal(failed.via, 'nft');
    assert.equal(failed.applied, true);
  });

  it('gives the commands of a transaction on an existing table structured, in the order of the text', () => {
    const d = desiredTable();
    const k = emptyKernelTable();
    applyToView(k, d, 'all', false);
    d.takeDirty();
    d.setMapElement('to-wl', 'cali2', 'goto twp_1');
    const elementsOnly = computeTransaction(k, d, d.takeDirty(), T, { ops: true });
    assert.deepEqual(
      elementsOnly.ops?.map((o) => (o.kind === 'elements' ? [o.op.verb, o.op.set, o.op.elements] : o.kind)),
      [
        ['delete', 'to-wl', [{ key: 'cali2' }]],
        ['add', 'to-wl', [{ key: 'cali2', verdict: 'goto twp_1' }]],
      ],
    );
    d.setChain({ name: 'twp_2', rules: [rule('counter accept', 'end')] });
    d.setChain({ name: 'twp_9', rules: [rule('jump twp_2', 'new')] });
    d.setSet({ name: 'v4-s.new', type: 'ipv4_addr', flags: [], elements: new Set(['10.0.0.9/32']) });
    const mixed = computeTransaction(k, d, d.takeDirty(), T, { ops: true });
    assert.deepEqual(
      mixed.ops?.map((o) => o.kind),
      ['addSet', 'addChain', 'elements', 'flushChain', 'addRule', 'addRule'],
      mixed.lines.join('\n'),
    );
    assert.equal(mixed.ops?.length, mixed.lines.length, 'one op per line');
    assert.equal(computeTransaction(emptyKernelTable(), d, 'all', T, { ops: true }).ops, undefined, 'a new table goes to nft');
  });

  it('builds the structured twin only when asked for (a transaction that may go by netlink)', () => {
    const d = desiredTable();
    const k = emptyKernelTable();
    applyToView(k, d, 'all', false);
    d.takeDirty();
    d.setMapElement('to-wl', 'cali2', 'goto twp_1');
    d.setChain({ name: 'twp_2', rules: [rule('counter accept', 'end')] });
    d.setSet({ name: 'v4-s.new', type: 'ipv4_addr', flags: [], elements: new Set(['10.0.0.9/32']) });
    const dirty = d.takeDirty();
    const plain = computeTransaction(k, d, dirty, T);
    assert.equal(plain.ops, undefined);
    const twin = computeTransaction(k, d, dirty, T, { ops: true });
    assert.deepEqual(plain.lines, twin.lines, 'the same text either way');
    assert.equal(twin.ops?.length, twin.lines.length);
  });

  it('writes many map elements as several commands, each small enough for a netlink attribute', () => {
    const d = desiredTable();
    const k = emptyKernelTable();
    applyToView(k, d, 'all', false);
    d.takeDirty();
    for (let i = 0; i < 1200; i++) d.setMapElement('to-wl', `cali${String(i).padStart(8, '0')}`, `goto fwp_${String(i % 100).padStart(16, '0')}`);
    const tx = computeTransaction(k, d, d.takeDirty(), T, { ops: true });
    const sizes = tx.ops?.map((o) => (o.kind === 'elements' ? o.op.elements.length : 0));
    assert.deepEqual(sizes, [500, 500, 200]);
    assert.equal(tx.ops?.length, tx.lines.length, 'one op per line');
    assert.ok(encodeTransactionBatch(T.name, tx.ops!, MAX_NETLINK_BATCH), 'goes by netlink (as one command, ~90 KiB of elements: too large for an attribute, so nft)');
  });
});
