// The cold start's stream (nftables/ahead-stream.ts) writes its messages in place: the bytes must be
// those of the encoder it replaced, message by message and as a whole. A rendered table of many
// policies, lists and sets (rules with jumps, sets, maps, a comment in UTF-8, one too long for
// netlink, sets netlink cannot fill), streamed in parts as the agent streams it, read back: every
// rule and chain message equals the one built attribute by attribute (`ruleMessage` below, of
// rule-encode.ts's expressions, the comment's user data built here), and the whole
// file hashes to what the encoder before session 11 wrote for the same table (batch boundaries,
// order and all).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { DataplaneUpdate } from '../../src/calc/model.ts';
import { AheadStream } from '../../src/dataplane/nftables/ahead-stream.ts';
import { aheadScope } from '../../src/dataplane/nftables/load-ahead.ts';
import { NftablesManager } from '../../src/dataplane/nftables/manager.ts';
import { attr, nested, NftMsg, nftMessage, NLM_F_APPEND, NLM_F_CREATE, stringAttr } from '../../src/dataplane/nftables/netlink-attr.ts';
import { forEachReference } from '../../src/dataplane/nftables/rule-references.ts';
import { encodeExpressions } from '../../src/dataplane/nftables/rule-encode.ts';
import { parseRule } from '../../src/dataplane/nftables/rule-parse.ts';
import { ruleComment, type DesiredState } from '../../src/dataplane/nftables/state.ts';
import { ipPortSet, ipSet, policy, port, settings, tier, workload, type RuleSpec } from './updates.ts';

const TABLE = { family: 'inet', name: 'margay' };

/** The reference: a rule appended to a chain built attribute by attribute (NFTA_RULE_TABLE, _CHAIN, _EXPRESSIONS, _USERDATA; nft 1.0.6's order). */
function ruleMessage(table: string, chain: string, exprs: Buffer[], userdata: Buffer): Buffer {
  return nftMessage(NftMsg.newRule, NLM_F_CREATE | NLM_F_APPEND, [stringAttr(1, table), stringAttr(2, chain), nested(4, exprs), attr(7, userdata)]);
}
const dir = mkdtempSync(join(tmpdir(), 'mg-ahead-bytes-'));
after(() => rmSync(dir, { recursive: true, force: true }));
let files = 0;

/**
 * SHA-256 of the stream of {@link fixture} as the encoder before session 11 (RuleExpressions +
 * MessageWriter per message, a Buffer per chain message) wrote it: checked out at 03ccbec and run
 * with this file. Change it only with a change of the rendered table, checked the same way
 * (session 16: 03ccbec with that session's render change — the first tier no longer clears pass
 * again, a dispatched sequence enters its last policy with goto — gave this hash).
 */
const STREAM_SHA256 = '5422ce8522ff4e2bed1a891e3150a878f5f241871052217480ae0032d255d9e6';

/** A table of many policies: tiers, lists sharing policies, sets of every kind, odd comments. */
function fixture(): DataplaneUpdate[] {
  const u: DataplaneUpdate[] = [settings()];
  for (let i = 0; i < 12; i++) u.push(ipSet(`s:${i}`, [`10.1.${i}.1/32`, `10.1.${i}.2/32`, ...(i % 3 === 0 ? [`fd00::${i}/128`] : [])]));
  // CIDRs: an interval set, whose elements netlink does not write here (its chains wait for nft).
  u.push(ipSet('s:nets', ['10.9.0.0/16', '10.8.0.0/24']));
  for (let i = 0; i < 4; i++) u.push(ipPortSet(`n:${i}`, [`10.2.${i}.1,tcp:80`, `10.2.${i}.2,udp:53`]));
  const keys: string[] = [];
  for (let i = 0; i < 40; i++) {
    // A comment in UTF-8, one too long for netlink (128 bytes), a chain name too long to be readable.
    const key = i === 7 ? 'default.np/ns/pölicy-ünïcode' : i === 8 ? `default.np-${'ü'.repeat(60)}` : i === 9 ? `default.np-${'x'.repeat(90)}` : `default.np-${i}`;
    keys.push(key);
    const specs: RuleSpec[] = [
      { action: 'allow', protocol: 6, dst: { ports: [port(80), port(8080 + i)] } },
      { action: i % 2 ? 'deny' : 'pass', src: { ipSets: [`s:${i % 12}`] } },
      { action: 'allow', protocol: 17, dst: { namedPortIpSets: [`n:${i % 4}`] } },
      { action: 'log', logPrefix: `p${i}`, src: { nets: ['10.3.0.0/16', '10.4.4.0/22'] } },
      { action: 'allow', icmp: { type: 8 }, protocol: 1 },
      { action: 'deny', protocol: 6, dst: { notPorts: [port(22), port(2000, 2100)] } },
    ];
    if (i % 10 === 5) specs.push({ action: 'allow', src: { ipSets: ['s:nets'] } });
    u.push(policy(key, { ingress: specs.slice(0, 3 + (i % 4)), egress: specs.slice(i % 3), doNotTrack: i === 11 }));
  }
  u.push(policy('pro/kns.ns-0', { ingress: [{ action: 'allow' }], egress: [{ action: 'allow' }] }));
  u.push(policy('pro/kns.ns-1', { ingress: [{ action: 'allow', src: { ipSets: ['s:1'] } }], egress: [{ action: 'allow' }] }));
  // Lists: overlapping windows of the policies (a policy in several lists), two tiers.
  for (let w = 0; w < 30; w++) {
    const mine = keys.slice(w % 25, (w % 25) + 3 + (w % 5));
    const tiers = [tier('security', { ingress: mine.slice(0, 1), egress: mine.slice(1, 2), defaultAction: w % 2 ? 'Pass' : 'Deny' }), tier('default', { ingress: mine, egress: mine.slice(1) })];
    u.push(workload(`wl/${w}`, `cali${w}`, [`10.5.0.${w}`], { tiers, profiles: [`pro/kns.ns-${w % 2}`] }));
  }
  return u;
}

/** Renders the fixture and streams it as the agent does: sets and policies, lists every 3, the rest. */
function streamFixture(maxBytes: number): { file: string; desired: DesiredState; commands: number } {
  const file = join(dir, `stream-${++files}.nl`);
  const m = new NftablesManager();
  for (const u of fixture()) m.onUpdate(u);
  m.completeSetsAndPolicies();
  const s = new AheadStream(file, TABLE, { maxBytes });
  s.add(m.desired, aheadScope(m.desired));
  let part: string[] = [];
  let lists = 0;
  m.onListRendered = (chains) => {
    part.push(...chains);
    if (++lists % 3 !== 0) return;
    s.add(m.desired, { chains: part, sets: [] });
    part = [];
  };
  m.flush();
  s.add(m.desired, { chains: [...m.desired.chains.keys()].filter((n) => !s.view.chains.has(n)), sets: [...m.desired.sets.keys()].filter((n) => !s.view.sets.has(n)) });
  s.end();
  return { file, desired: m.desired, commands: s.commands };
}

/** The messages of a stream file, each with its nf_tables type and attributes by type. */
function messages(data: Buffer): { type: number; bytes: Buffer; attrs: Map<number, Buffer> }[] {
  const out: { type: number; bytes: Buffer; attrs: Map<number, Buffer> }[] = [];
  for (let at = 0; at < data.length; ) {
    const len = data.readUInt32LE(at);
    const attrs = new Map<number, Buffer>();
    for (let a = at + 20; a < at + len; a += (data.readUInt16LE(a) + 3) & ~3) attrs.set(data.readUInt16LE(a + 2) & 0x7fff, data.subarray(a + 4, a + data.readUInt16LE(a)));
    out.push({ type: data.readUInt16LE(at + 4), bytes: data.subarray(at, at + len), attrs });
    at += (len + 3) & ~3;
  }
  return out;
}

/** A rule comment's user data as nft stores it (the reference: type, length, text with its zero). */
function userdata(comment: string): Buffer {
  const text = Buffer.from(`${comment}\0`);
  return Buffer.concat([Buffer.from([0, text.length]), text]);
}

const zeroTerminated = (b: Buffer | undefined): string => b!.subarray(0, b!.length - 1).toString('utf8');

describe('nftables load ahead - the stream\'s bytes', () => {
  it('writes every rule and chain message as the attribute-by-attribute encoder does', () => {
    const { file, desired } = streamFixture(16 * 1024);
    const next = new Map<string, number>();
    let rules = 0;
    let chains = 0;
    let utf8 = 0;
    for (const msg of messages(readFileSync(file))) {
      if (msg.type === ((10 << 8) | NftMsg.newChain)) {
        const chain = zeroTerminated(msg.attrs.get(3));
        assert.deepEqual(msg.bytes, nftMessage(NftMsg.newChain, NLM_F_CREATE, [stringAttr(1, TABLE.name), stringAttr(3, chain)]), chain);
        chains++;
      }
      if (msg.type !== ((10 << 8) | NftMsg.newRule)) continue;
      const chain = zeroTerminated(msg.attrs.get(2));
      const index = next.get(chain) ?? 0;
      next.set(chain, index + 1);
      const r = desired.chains.get(chain)!.rules[index]!;
      const comment = ruleComment(r);
      if (Buffer.byteLength(comment) !== comment.length) utf8++;
      const expected = ruleMessage(TABLE.name, chain, encodeExpressions(parseRule(r.body)!)!, userdata(comment));
      assert.deepEqual(msg.bytes, expected, `${chain} rule ${index}: ${r.body}`);
      rules++;
    }
    // The fixture holds what it should: many rules and chains, comments in UTF-8, jumps.
    assert.ok(rules > 1000 && chains > 100, `${rules} rules, ${chains} chains`);
    assert.ok(utf8 > 0, 'a comment in UTF-8 went');
    // The rule with a comment too long for netlink stops its chain: the last transaction refills it.
    const long = [...desired.chains.values()].find((c) => c.rules.some((r) => Buffer.byteLength(ruleComment(r)) >= 128));
    assert.ok(long, 'a comment too long');
    assert.ok((next.get(long.name) ?? 0) < long.rules.length, `${long.name} stopped half-way`);
  });

  it('writes the same stream as the encoder before session 11, batch boundaries and all', () => {
    const { file } = streamFixture(16 * 1024);
    assert.equal(createHash('sha256').update(readFileSync(file)).digest('hex'), STREAM_SHA256);
  });
});

describe('nftables load ahead - rule references', () => {
  const REFERENCE = /@([A-Za-z0-9_./-]+)|\b(?:jump|goto) ([A-Za-z][A-Za-z0-9_./-]*)/g;
  const scan = (body: string): string[] => {
    const out: string[] = [];
    forEachReference(body, (s) => (out.push(`@${s}`), true), (c) => (out.push(`>${c}`), true));
    return out;
  };
  const regex = (body: string): string[] => [...body.matchAll(REFERENCE)].map((m) => (m[1] !== undefined ? `@${m[1]}` : `>${m[2]}`));

  it('finds what the regular expression finds, in order', () => {
    const bodies = [
      'counter drop',
      'ip saddr @v4-s.a meta mark & 0x00020000 == 0x00000000 jump pi-default.np-1',
      'iifname vmap @to-wl',
      'jump fwp_0123',
      'goto tw-cali1',
      'ip saddr . meta l4proto . th dport @v4p-n.x accept',
      '@ @. @foo.jump x',
      'xjump a',
      'ajump b @c',
      '_goto c jump 9x jump d',
      'jump  two-spaces',
      'meta l4proto vmap { 6 : goto fwp_a.p6, 17 : jump fwp_a.p17 }',
      'ip6 daddr != @v6-s.b @v6-s.c return',
      '',
    ];
    // And random texts over the characters that matter.
    const chars = ['@', 'j', 'u', 'm', 'p', 'g', 'o', 't', ' ', 'a', '.', '-', '_', '9', '{', '/'];
    let seed = 7;
    const random = (): number => (seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31;
    for (let i = 0; i < 3000; i++) bodies.push(Array.from({ length: 1 + Math.floor(random() * 24) }, () => chars[Math.floor(random() * chars.length)]).join(''));
    for (const body of bodies) assert.deepEqual(scan(body), regex(body), body);
  });

  it('stops when told', () => {
    const seen: string[] = [];
    assert.equal(forEachReference('ip saddr @a ip daddr @b jump c', (s) => (seen.push(s), false), () => true), false);
    assert.deepEqual(seen, ['a']);
  });
});
