// A cold start's load ahead as a stream of netlink batches (nftables/ahead-stream.ts): what the
// file the helper reads holds — the table created first, batches within their size, what waits
// for what it refers to, what is left to nft — read back message by message.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { AheadStream } from '../../src/dataplane/nftables/ahead-stream.ts';
import { DesiredState, rule } from '../../src/dataplane/nftables/state.ts';
import { NFNL_MSG_BATCH_BEGIN, NFNL_MSG_BATCH_END, NLMSG_DONE, nftTypeOf, readNetlinkMessages } from '../../src/dataplane/nftables/netlink-read.ts';

const TABLE = { family: 'inet', name: 'margay' };
const dir = mkdtempSync(join(tmpdir(), 'mg-ahead-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/** One message of the file: its nf_tables type (or netlink type), flags and string attributes by type. */
interface Msg {
  type: number;
  flags: number;
  strings: Map<number, string>;
}

/** The batches of a stream file (each the messages between begin and end), and whether it ended. */
function readStream(file: string): { batches: Msg[][]; sizes: number[]; ended: boolean } {
  const data = readFileSync(file);
  const { messages, bytes } = readNetlinkMessages(data);
  assert.equal(bytes, data.length, 'whole messages only');
  const batches: Msg[][] = [];
  const sizes: number[] = [];
  let current: Msg[] = [];
  let size = 0;
  let ended = false;
  for (const m of messages) {
    if (m.type === NFNL_MSG_BATCH_BEGIN) size = 0;
    else if (m.type === NFNL_MSG_BATCH_END) {
      batches.push(current);
      sizes.push(size + m.bytes);
      current = [];
    } else if (m.type === NLMSG_DONE) ended = true;
    else current.push({ type: nftTypeOf(m)!, flags: m.flags, strings: m.strings });
    size += m.bytes;
  }
  return { batches, sizes, ended };
}

const NEW_TABLE = 0;
const NEW_CHAIN = 3;
const NEW_RULE = 6;
const NEW_SET = 9;
const chainsOf = (msgs: Msg[]): string[] => msgs.filter((m) => m.type === NEW_CHAIN).map((m) => m.strings.get(3)!);
const rulesOf = (msgs: Msg[], chain: string): number => msgs.filter((m) => m.type === NEW_RULE && m.strings.get(2) === chain).length;

function stream(maxBytes = 192 * 1024): { s: AheadStream; file: string } {
  const file = join(dir, `s${++files}.nl`);
  return { s: new AheadStream(file, TABLE, { maxBytes }), file };
}

describe('nftables load ahead - netlink stream', () => {
  it('creates the table first (refused when one exists), then sets, chains and rules, and ends', () => {
    const d = new DesiredState();
    d.setSet({ name: 'v4-s.a', type: 'ipv4_addr', flags: [], elements: new Set(['10.0.0.1/32']) });
    d.setChain({ name: 'pi-np/a', rules: [rule('ip saddr @v4-s.a accept', 'a'), rule('counter drop')] });
    const { s, file } = stream();
    s.add(d, { chains: ['pi-np/a'], sets: ['v4-s.a'] });
    s.end();
    const { batches, ended } = readStream(file);
    assert.equal(ended, true);
    const all = batches.flat();
    assert.equal(all[0]!.type, NEW_TABLE);
    assert.equal(all[0]!.flags & 0x200, 0x200, 'NLM_F_EXCL: create, not add');
    assert.deepEqual(
      all.map((m) => m.type),
      [NEW_TABLE, NEW_SET, 12, NEW_CHAIN, NEW_RULE, NEW_RULE],
    );
    assert.equal(s.commands, 5);
    assert.deepEqual([...s.view.chains.keys()], ['pi-np/a']);
    assert.deepEqual([...s.view.sets.keys()], ['v4-s.a']);
  });

  it('splits batches at the size asked for, every one within it', () => {
    const d = new DesiredState();
    const chains = Array.from({ length: 60 }, (_, i) => `po-np/p${i}`);
    for (const name of chains) d.setChain({ name, rules: Array.from({ length: 20 }, (_, k) => rule(`meta l4proto 6 th dport ${1000 + k} accept`, `r${k}`)) });
    const { s, file } = stream(16 * 1024);
    s.add(d, { chains, sets: [] });
    s.end();
    const { batches, sizes } = readStream(file);
    assert.ok(batches.length > 3, `${batches.length} batches`);
    for (const size of sizes) assert.ok(size <= 16 * 1024, `a batch of ${size} bytes`);
    for (const name of chains) assert.equal(rulesOf(batches.flat(), name), 20);
  });

  it('holds back what refers to a map or to a chain not rendered yet, and sends it once that chain is', () => {
    const d = new DesiredState();
    d.defineMap('from-wl', 'ifname');
    d.setChain({ name: 'from-wl-dispatch', rules: [rule('iifname vmap @from-wl')] });
    d.setChain({ name: 'fwp_1', rules: [rule('jump pi-np/b')] });
    const { s, file } = stream();
    s.add(d, { chains: ['from-wl-dispatch', 'fwp_1'], sets: [] });
    assert.deepEqual([...s.view.chains.keys()], [], 'nothing can go yet');
    d.setChain({ name: 'pi-np/b', rules: [rule('accept')] });
    s.add(d, { chains: ['pi-np/b'], sets: [] });
    s.end();
    const sent = chainsOf(readStream(file).batches.flat());
    assert.deepEqual(sent.sort(), ['fwp_1', 'pi-np/b'], 'the waiting chain followed; the map user never goes');
    assert.equal(s.view.chains.has('from-wl-dispatch'), false, 'left to the last transaction');
  });

  it('creates a chain with a rule netlink cannot write, filled up to that rule, for the last transaction to refill', () => {
    const d = new DesiredState();
    d.setChain({ name: 'fwp_2.0', rules: [rule('counter'), rule('meta l4proto vmap { 17 : goto fwp_2.0.0 }'), rule('drop')] });
    d.setChain({ name: 'fwp_2.0.0', rules: [rule('accept')] });
    d.setChain({ name: 'fwp_2', rules: [rule('jump fwp_2.0')] });
    const { s, file } = stream();
    s.add(d, { chains: ['fwp_2', 'fwp_2.0', 'fwp_2.0.0'], sets: [] });
    s.end();
    const all = readStream(file).batches.flat();
    assert.deepEqual(chainsOf(all).sort(), ['fwp_2', 'fwp_2.0', 'fwp_2.0.0']);
    assert.equal(rulesOf(all, 'fwp_2.0'), 1, 'up to the anonymous map');
    assert.deepEqual(
      s.view.chains.get('fwp_2.0')?.rules.map((r) => r.hash),
      [d.chains.get('fwp_2.0')!.rules[0]!.hash],
      'the view holds what went, so the last transaction flushes and refills it',
    );
    assert.equal(s.view.chains.get('fwp_2')?.rules.length, 1);
  });

  it('writes nothing, not even the table, when nothing can go, and its view says there is no table', () => {
    const d = new DesiredState();
    // Touching ranges: nft's form of those was not checked, so the set is left to nft.
    d.setSet({ name: 'v4n-x', type: 'ipv4_addr', flags: ['interval'], elements: new Set(['10.0.0.0/24', '10.0.1.0/24']) });
    d.setChain({ name: 'pi-np/x', rules: [rule('ip saddr @v4n-x accept')] });
    const { s, file } = stream();
    s.add(d, { chains: ['pi-np/x'], sets: ['v4n-x'] });
    s.end();
    const { batches, ended } = readStream(file);
    assert.equal(batches.length, 0);
    assert.equal(ended, true);
    assert.equal(s.view.sets.size, 0);
    assert.equal(s.view.exists, false, 'no `create table` was written: the last transaction must add the table');
  });

  it('sends the anti-spoofing concatenated interval sets with their elements, and the chain that looks them up', () => {
    const d = new DesiredState();
    d.setSet({ name: 'wl-src-v4', type: 'ifname . ipv4_addr', flags: ['interval'], elements: new Set(['"cali1" . 10.0.0.1/32', '"cali2" . 10.1.0.0/16']) });
    d.setChain({ name: 'from-wl-x', rules: [rule('meta nfproto ipv4 iifname . ip saddr != @wl-src-v4 counter drop')] });
    const { s, file } = stream();
    s.add(d, { chains: ['from-wl-x'], sets: ['wl-src-v4'] });
    s.end();
    assert.deepEqual(
      readStream(file).batches.flat().map((m) => m.type),
      [NEW_TABLE, NEW_SET, 12, NEW_CHAIN, NEW_RULE],
    );
    assert.equal(s.view.exists, true);
    assert.deepEqual([...s.view.sets.keys()], ['wl-src-v4']);
  });
});
