// A cold start's load ahead (nftables/load-ahead.ts, NftablesDriver.loadAhead) over a runner that
// plays nft: what goes ahead, what the full apply then sends, and the fall back to a full read
// when the load ahead fails.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { computeTransaction } from '../../src/dataplane/nftables/diff.ts';
import { NftablesDriver } from '../../src/dataplane/nftables/driver.ts';
import { emptyKernelTable } from '../../src/dataplane/nftables/kernel.ts';
import { aheadScope, aheadText, listsTable, switchOnBatches } from '../../src/dataplane/nftables/load-ahead.ts';
import { nftTypeOf, readNetlinkMessages } from '../../src/dataplane/nftables/netlink-read.ts';
import { DesiredState, rule } from '../../src/dataplane/nftables/state.ts';
import type { CommandRunner } from '../../src/os/mod.ts';

const TABLE = { family: 'inet', name: 'margay' };

/** A set, a policy chain using it, a verdict map, and a base chain jumping to the policy chain. */
function desired(): DesiredState {
  const d = new DesiredState();
  d.setSet({ name: 'v4-s.a', type: 'ipv4_addr', flags: [], elements: new Set(['10.0.0.1/32']) });
  d.setChain({ name: 'pi-np/a', rules: [rule('ip saddr @v4-s.a accept', 'a')] });
  d.defineMap('from-wl', 'ifname');
  d.setChain({ name: 'filter-forward', base: { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' }, rules: [rule('jump pi-np/a')] });
  return d;
}

/** Plays nft: the probe's answer, the listing after a failure, and the transactions (text of `-f FILE` or stdin). */
function nft(options: { tables: string; failAhead?: boolean }): { runner: CommandRunner; loads: string[]; lists: number } {
  const state = { runner: undefined as unknown as CommandRunner, loads: [] as string[], lists: 0 };
  state.runner = async (_cmd, args, runOptions) => {
    if (args.includes('tables')) return { code: 0, stdout: options.tables, stderr: '' };
    if (args.includes('list')) {
      state.lists++;
      return { code: 0, stdout: JSON.stringify({ nftables: [{ table: TABLE }] }), stderr: '' };
    }
    const file = args[args.indexOf('-f') + 1]!;
    const text = file === '-' ? String(runOptions?.input ?? '') : readFileSync(file, 'utf8');
    state.loads.push(text);
    if (options.failAhead && text.startsWith('create table')) {
      if (runOptions?.allowFail) return { code: 1, stdout: '', stderr: 'Error: File exists' };
      throw new Error('Error: Could not process rule: File exists');
    }
    return { code: 0, stdout: '', stderr: '' };
  };
  return state;
}

const NO_TABLES = JSON.stringify({ nftables: [{ metainfo: { version: '1.0.6' } }] });
const OUR_TABLE = JSON.stringify({ nftables: [{ metainfo: {} }, { table: { family: 'inet', name: 'margay', handle: 1 } }] });

describe('nftables load ahead - pure parts', () => {
  it('takes every set, map and regular chain, never a base chain', () => {
    const scope = aheadScope(desired());
    assert.deepEqual([...scope.chains], ['pi-np/a']);
    assert.deepEqual([...scope.sets], ['v4-s.a']);
    assert.deepEqual([...scope.maps], [['from-wl', 'all']]);
  });

  it('creates the table instead of adding it, so that it fails over an existing table', () => {
    const d = desired();
    const text = aheadText(computeTransaction(emptyKernelTable(), d, aheadScope(d), TABLE), TABLE);
    assert.match(text, /^create table inet margay\n/);
    assert.doesNotMatch(text, /filter-forward|add table/);
    const existing = computeTransaction({ ...emptyKernelTable(), exists: true }, d, aheadScope(d), TABLE);
    assert.throws(() => aheadText(existing, TABLE), /starts with "add table inet margay"/);
  });

  it('reads whether `nft -j list tables` lists the table', () => {
    assert.equal(listsTable(OUR_TABLE, TABLE), true);
    assert.equal(listsTable(NO_TABLES, TABLE), false);
    assert.equal(listsTable(JSON.stringify({ nftables: [{ table: { family: 'ip', name: 'margay' } }] }), TABLE), false);
    assert.equal(listsTable('not json', TABLE), undefined);
    assert.equal(listsTable('{"x":1}', TABLE), undefined);
  });
});

describe('nftables driver - load ahead', () => {
  it('loads sets and regular chains ahead, then the base chains with the full apply', async () => {
    const kernel = nft({ tables: NO_TABLES });
    const driver = new NftablesDriver(kernel.runner);
    const d = desired();
    assert.equal(driver.prefetch({ probeFirst: true }), true);
    assert.equal(await driver.loadAhead(d), true);
    const out = await driver.apply(d, d.takeDirty());
    assert.equal(out.error, undefined);
    assert.deepEqual(out.ahead, { commands: 6 });
    assert.equal(kernel.lists, 0, 'not read: the probe found no table (a cold start lists nothing)');
    assert.equal(kernel.loads.length, 2);
    assert.match(kernel.loads[0]!, /^create table inet margay\nadd set .* v4-s\.a /);
    assert.match(kernel.loads[0]!, /add rule inet margay pi-np\/a ip saddr @v4-s\.a accept/);
    assert.deepEqual(
      kernel.loads[1]!.trim().split('\n').map((l) => l.split(' comment')[0]),
      ['add chain inet margay filter-forward { type filter hook forward priority 0; policy accept; }', 'add rule inet margay filter-forward jump pi-np/a'],
    );
    // Nothing left over: the temporary file is gone, and the next full comparison has nothing to do.
    assert.equal((await driver.apply(d, d.takeDirty())).commands, 0);
  });

  it('goes no further than the probe when the table exists', async () => {
    const kernel = nft({ tables: OUR_TABLE });
    const driver = new NftablesDriver(kernel.runner);
    driver.prefetch({ probeFirst: true });
    assert.equal(await driver.loadAhead(desired()), false);
    const out = await driver.apply(desired(), desired().takeDirty());
    assert.equal(out.ahead, undefined);
    assert.equal(kernel.lists, 1, 'the table is read, once the probe found it');
    assert.equal(kernel.loads.length, 1);
    assert.doesNotMatch(kernel.loads[0]!, /create table|add table/);
  });

  it('reads the table when the probe fails, as without a probe', async () => {
    const kernel = nft({ tables: 'not a listing' });
    const driver = new NftablesDriver(kernel.runner);
    driver.prefetch({ probeFirst: true });
    assert.equal(await driver.loadAhead(desired()), false, 'no load ahead without an answer');
    const out = await driver.apply(desired(), desired().takeDirty());
    assert.equal(out.error, undefined);
    assert.equal(kernel.lists, 1, 'the table is read');
  });

  it('keeps small loads in one transaction', async () => {
    const kernel = nft({ tables: NO_TABLES });
    const driver = new NftablesDriver(kernel.runner);
    driver.prefetch({ probeFirst: true });
    assert.equal(await driver.loadAhead(desired(), { minCommands: 100 }), false);
    await driver.apply(desired(), desired().takeDirty());
    assert.equal(kernel.loads.length, 1);
    assert.match(kernel.loads[0]!, /^add table inet margay\n/);
  });

  it('falls back to reading the kernel and comparing everything when the load ahead fails', async () => {
    const kernel = nft({ tables: NO_TABLES, failAhead: true });
    const driver = new NftablesDriver(kernel.runner);
    const d = desired();
    driver.prefetch({ probeFirst: true });
    assert.equal(await driver.loadAhead(d), true);
    const out = await driver.apply(d, d.takeDirty());
    assert.match(String(out.ahead?.error?.message), /File exists/);
    assert.equal(out.error, undefined);
    assert.equal(out.fullSync, true);
    assert.equal(kernel.lists, 1, 'not read with the probe (no table), read after the failure');
    assert.equal(kernel.loads.length, 2);
    // Against the table read back (it exists, empty), the whole desired state in one transaction.
    assert.match(kernel.loads[1]!, /add set inet margay v4-s\.a/);
    assert.match(kernel.loads[1]!, /add chain inet margay filter-forward/);
    assert.doesNotMatch(kernel.loads[1]!, /create table/);
  });

  /** A driver with a netlink writer playing the helper: it takes the stream once the stream has ended (or refuses it at once). */
  function streamingDriver(kernel: ReturnType<typeof nft>, options: { refuse?: boolean } = {}): { driver: NftablesDriver; streamed: () => boolean } {
    let streamed = false;
    const writer = {
      applyBatch: async () => undefined,
      streamBatches: async () => {
        streamed = true;
        if (options.refuse) throw new Error('netlink: File exists');
        await new Promise((r) => setTimeout(r, 0));
      },
    };
    return { driver: new NftablesDriver(kernel.runner, { elementWriter: writer, switchOnNetlink: false }), streamed: () => streamed };
  }

  it('by netlink too, keeps small loads in one transaction (nothing handed to the helper)', async () => {
    const kernel = nft({ tables: NO_TABLES });
    const { driver, streamed } = streamingDriver(kernel);
    driver.prefetch({ probeFirst: true });
    assert.equal(await driver.loadAhead(desired(), { minCommands: 100 }), false);
    assert.equal(streamed(), false);
    const out = await driver.apply(desired(), desired().takeDirty());
    assert.equal(out.ahead, undefined);
    assert.match(kernel.loads[0]!, /^add table inet margay\n/);
  });

  it('writes no more parts once the helper refused the stream', async () => {
    const kernel = nft({ tables: NO_TABLES });
    const { driver } = streamingDriver(kernel, { refuse: true });
    const d = desired();
    driver.prefetch({ probeFirst: true });
    assert.equal(await driver.loadAhead(d), true);
    await new Promise((r) => setTimeout(r, 10)); // the refusal settles
    const stream = (driver as unknown as { ahead: { stream: { commands: number; ended: boolean } } }).ahead.stream;
    const before = stream.commands;
    d.setChain({ name: 'pi-np/late', rules: [rule('accept', 'late')] });
    assert.equal(driver.continueAhead(d, { names: { chains: ['pi-np/late'], sets: [] } }), false, 'refused: nothing more is encoded');
    assert.equal(stream.commands, before);
    assert.equal(stream.ended, true);
    const out = await driver.apply(d, d.takeDirty());
    assert.match(String(out.ahead?.error?.message), /File exists/);
    assert.equal(out.fullSync, true);
    assert.match(kernel.loads.at(-1)!, /add chain inet margay pi-np\/late/);
  });

  it('a chain waiting in the stream that is removed before its references go is dropped, not sent', async () => {
    const kernel = nft({ tables: NO_TABLES });
    const { driver } = streamingDriver(kernel);
    const d = desired();
    // Jumps to a chain not rendered yet: it waits in the stream.
    d.setChain({ name: 'fw-list', rules: [rule('jump pi-np/late', 'late')] });
    driver.prefetch({ probeFirst: true });
    assert.equal(await driver.loadAhead(d), true);
    d.deleteChain('fw-list');
    d.setChain({ name: 'pi-np/late', rules: [rule('accept', 'late')] });
    assert.equal(driver.continueAhead(d, { names: { chains: ['pi-np/late'], sets: [] } }), true);
    assert.equal(driver.continueAhead(d, { end: true }), true);
    const out = await driver.apply(d, d.takeDirty());
    assert.equal(out.ahead?.error, undefined);
    assert.equal(out.error, undefined);
  });

  it('a stream that cannot be extended ends, and the apply reads the kernel instead of trusting what it sent', async () => {
    const kernel = nft({ tables: NO_TABLES });
    const { driver, streamed } = streamingDriver(kernel);
    const d = desired();
    driver.prefetch({ probeFirst: true });
    assert.equal(await driver.loadAhead(d), true);
    // A part that fails half-way (a write error, say): what went in is no longer known.
    const stream = (driver as unknown as { ahead: { stream: { add: () => void } } }).ahead.stream;
    stream.add = () => {
      throw new Error('ENOSPC: no space left on device');
    };
    d.setChain({ name: 'pi-np/late', rules: [rule('accept', 'late')] });
    assert.equal(driver.continueAhead(d, { names: { chains: ['pi-np/late'], sets: [] } }), false, 'the part failed: no more parts');
    assert.equal(driver.continueAhead(d, { end: true }), false, 'the stream has ended');
    const out = await driver.apply(d, d.takeDirty());
    assert.ok(streamed(), 'the helper was given the stream');
    assert.match(String(out.ahead?.error?.message), /ENOSPC/, 'the load ahead counts as failed');
    assert.equal(out.error, undefined);
    assert.equal(out.fullSync, true);
    assert.equal(kernel.lists, 1, 'not read with the probe (no table), read after the failure');
    assert.match(kernel.loads.at(-1)!, /add chain inet margay pi-np\/late/);
    assert.match(kernel.loads.at(-1)!, /add chain inet margay filter-forward/);
  });

  it('removes its temporary file once nft has run', async () => {
    const seen: string[] = [];
    const base = nft({ tables: NO_TABLES });
    const runner: CommandRunner = async (cmd, args, options) => {
      if (args[0] === '-f' && args[1] !== '-') seen.push(args[1]!);
      return base.runner(cmd, args, options);
    };
    const driver = new NftablesDriver(runner);
    const d = desired();
    driver.prefetch({ probeFirst: true });
    await driver.loadAhead(d);
    await driver.apply(d, d.takeDirty());
    assert.equal(seen.length, 1);
    assert.equal(existsSync(seen[0]!), false);
  });

  it('switch-on batches: the inert rest in batches of the size given, then the base chains with their rules in one last batch', () => {
    const d = desired();
    d.setChain({ name: 'pi-np/b', rules: [rule('ip saddr @v4-s.a drop', 'b'), rule('meta l4proto vmap { 6 : goto pi-np/a }', 'dispatch')] });
    d.setMapElement('from-wl', 'cali1', 'goto pi-np/a');
    const ahead = emptyKernelTable();
    ahead.exists = true;
    const tx = computeTransaction(ahead, d, 'all', TABLE, { ops: true });
    // Message types (nf_tables subsystem) of each batch, between begin and end.
    const types = (b: Buffer): number[] => {
      const { messages, bytes } = readNetlinkMessages(b);
      assert.equal(bytes, b.length, 'whole messages only');
      return messages.slice(1, -1).map((m) => nftTypeOf(m)!);
    };
    const whole = switchOnBatches('margay', tx.ops!, 1 << 20)!;
    assert.equal(whole.length, 2, 'one inert batch, then the switch-on');
    const split = switchOnBatches('margay', tx.ops!, 500)!;
    assert.ok(split.length > 2, `the inert part split (${split.length} batches)`);
    for (const b of split.slice(0, -1)) assert.ok(b.length <= 500 && !b.includes(Buffer.from('filter\0')), 'no base chain before the last batch');
    const last = split[split.length - 1]!;
    assert.deepEqual(types(last), [3, 6], 'the base chain created, then its rule');
    assert.ok(last.includes(Buffer.from('filter\0')));
    assert.ok(split.flatMap(types).filter((t) => t === 9).length === 3, 'the set, the map and the anonymous map');
    // A switch-on that does not fit one batch, or a command without a netlink form: nft.
    assert.equal(switchOnBatches('margay', tx.ops!, 150), undefined);
    assert.equal(switchOnBatches('margay', [...tx.ops!, { kind: 'other' }], 1 << 20), undefined);
  });
});
