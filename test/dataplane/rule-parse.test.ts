/**
 * The rule parser and expression encoder of the netlink path (pure): rule texts give the
 * expressions `nft --debug=netlink` showed for them with nft 1.0.6 (captured in a throwaway
 * namespace), texts it does not reproduce exactly give undefined, and the encoded attributes are
 * laid out as nft's own messages (`nft --debug=mnl`).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { CompiledRule } from '../../src/calc/model.ts';
import { parseRule, type Expr } from '../../src/dataplane/nftables/rule-parse.ts';
import { encodeExpressions, writeCommentUserdata } from '../../src/dataplane/nftables/rule-encode.ts';
import { renderRule, type RuleRenderContext } from '../../src/dataplane/nftables/render-rules.ts';
import { DEFAULT_MARKS } from '../../src/dataplane/nftables/settings.ts';

/** A register-sized hex word list, as nft prints data (32-bit words in host order, zero-padded). */
function words(b: Buffer): string {
  const out: string[] = [];
  for (let i = 0; i < b.length; i += 4) {
    const w = Buffer.alloc(4);
    b.copy(w, 0, i, Math.min(i + 4, b.length));
    out.push(`0x${w.readUInt32LE(0).toString(16).padStart(8, '0')}`);
  }
  return out.join(' ');
}

/** An expression as `nft --debug=netlink` prints it. */
function show(e: Expr): string {
  switch (e.kind) {
    case 'meta':
      return `meta load ${e.key} => reg ${e.dreg}`;
    case 'metaSet':
      return `meta set ${e.key} with reg ${e.sreg}`;
    case 'payload':
      return `payload load ${e.len}b @ ${e.base} header + ${e.offset} => reg ${e.dreg}`;
    case 'cmp':
      return `cmp ${e.op} reg ${e.sreg} ${words(e.data)}`;
    case 'range':
      return `range ${e.op} reg ${e.sreg} ${words(e.from)} ${words(e.to)}`;
    case 'bitwise':
      return `bitwise reg ${e.dreg} = ( reg ${e.sreg} & ${words(e.mask)} ) ^ ${words(e.xor)}`;
    case 'lookup':
      return `lookup reg ${e.sreg} set ${e.set}${e.dreg !== undefined ? ` dreg ${e.dreg}` : ''}${e.invert ? ' 0x1' : ''}`;
    case 'ct':
      return `ct load ${e.key} => reg ${e.dreg}`;
    case 'counter':
      return 'counter pkts 0 bytes 0';
    case 'notrack':
      return 'notrack';
    case 'log':
      return `log prefix ${e.prefix} `;
    case 'verdict':
      return e.chain === undefined ? `immediate reg 0 ${e.word}` : `immediate reg 0 ${e.word} -> ${e.chain}`;
    case 'masq':
      return `masq flags 0x${e.flags.toString(16)}`;
  }
}

const parsed = (body: string): string[] | undefined => parseRule(body)?.map(show);
const NF4 = ['meta load nfproto => reg 1', 'cmp eq reg 1 0x00000002'];
const NF6 = ['meta load nfproto => reg 1', 'cmp eq reg 1 0x0000000a'];

/** Rule texts and what nft 1.0.6 made of them (`nft --debug=netlink -f`). */
const GOLDEN: Array<[string, string[]]> = [
  [
    'meta l4proto 6 ip saddr 10.0.0.0/8 th dport 80 counter drop',
    ['meta load l4proto => reg 1', 'cmp eq reg 1 0x00000006', ...NF4, 'payload load 1b @ network header + 12 => reg 1', 'cmp eq reg 1 0x0000000a',
      'payload load 2b @ transport header + 2 => reg 1', 'cmp eq reg 1 0x00005000', 'counter pkts 0 bytes 0', 'immediate reg 0 drop'],
  ],
  [
    'ip saddr 10.1.2.3 ip daddr 10.1.0.0/17 accept',
    [...NF4, 'payload load 4b @ network header + 12 => reg 1', 'cmp eq reg 1 0x0302010a', 'payload load 4b @ network header + 16 => reg 1',
      'bitwise reg 1 = ( reg 1 & 0x0080ffff ) ^ 0x00000000', 'cmp eq reg 1 0x0000010a', 'immediate reg 0 accept'],
  ],
  [
    'ip6 saddr fd00::/64 th sport 1000-2000 return',
    [...NF6, 'payload load 8b @ network header + 8 => reg 1', 'cmp eq reg 1 0x000000fd 0x00000000', 'payload load 2b @ transport header + 0 => reg 1',
      'cmp gte reg 1 0x0000e803', 'cmp lte reg 1 0x0000d007', 'immediate reg 0 return'],
  ],
  [
    'ip saddr != 10.0.0.0/8 ip saddr != 11.0.0.0/12 drop',
    [...NF4, 'payload load 1b @ network header + 12 => reg 1', 'cmp neq reg 1 0x0000000a', 'payload load 4b @ network header + 12 => reg 1',
      'bitwise reg 1 = ( reg 1 & 0x0000f0ff ) ^ 0x00000000', 'cmp neq reg 1 0x0000000b', 'immediate reg 0 drop'],
  ],
  [
    'ip saddr @s4 ip daddr != @s4i jump c2',
    [...NF4, 'payload load 4b @ network header + 12 => reg 1', 'lookup reg 1 set s4', 'payload load 4b @ network header + 16 => reg 1', 'lookup reg 1 set s4i 0x1', 'immediate reg 0 jump -> c2'],
  ],
  [
    'meta l4proto @l4 th dport != 22 th dport != 100-200 goto c2',
    ['meta load l4proto => reg 1', 'lookup reg 1 set l4', 'payload load 2b @ transport header + 2 => reg 1', 'cmp neq reg 1 0x00001600',
      'payload load 2b @ transport header + 2 => reg 1', 'range neq reg 1 0x00006400 0x0000c800', 'immediate reg 0 goto -> c2'],
  ],
  [
    'ip saddr . meta l4proto . th dport @pp meta mark set meta mark | 0x00100000',
    [...NF4, 'payload load 4b @ network header + 12 => reg 1', 'meta load l4proto => reg 9', 'payload load 2b @ transport header + 2 => reg 10', 'lookup reg 1 set pp',
      'meta load mark => reg 1', 'bitwise reg 1 = ( reg 1 & 0xffefffff ) ^ 0x00100000', 'meta set mark with reg 1'],
  ],
  ['meta mark set meta mark & 0xffefffff', ['meta load mark => reg 1', 'bitwise reg 1 = ( reg 1 & 0xffefffff ) ^ 0x00000000', 'meta set mark with reg 1']],
  [
    'meta mark & 0x00100000 == 0x00000000 jump c2',
    ['meta load mark => reg 1', 'bitwise reg 1 = ( reg 1 & 0x00100000 ) ^ 0x00000000', 'cmp eq reg 1 0x00000000', 'immediate reg 0 jump -> c2'],
  ],
  [
    'meta nfproto ipv4 th dport 53 notrack meta mark set meta mark | 0x00010000 return',
    [...NF4, 'payload load 2b @ transport header + 2 => reg 1', 'cmp eq reg 1 0x00003500', 'notrack', 'meta load mark => reg 1',
      'bitwise reg 1 = ( reg 1 & 0xfffeffff ) ^ 0x00010000', 'meta set mark with reg 1', 'immediate reg 0 return'],
  ],
  [
    'icmp type 8 icmp code 0 accept',
    [...NF4, 'meta load l4proto => reg 1', 'cmp eq reg 1 0x00000001', 'payload load 2b @ transport header + 0 => reg 1', 'cmp eq reg 1 0x00000008', 'immediate reg 0 accept'],
  ],
  [
    'meta l4proto 58 icmpv6 type 1 icmpv6 code 4 th dport 5 accept',
    ['meta load l4proto => reg 1', 'cmp eq reg 1 0x0000003a', 'payload load 4b @ transport header + 0 => reg 1', 'cmp eq reg 1 0x05000401', 'immediate reg 0 accept'],
  ],
  [
    'ip saddr 10.0.0.1 icmp type 8 accept',
    [...NF4, 'payload load 4b @ network header + 12 => reg 1', 'cmp eq reg 1 0x0100000a', 'meta load l4proto => reg 1', 'cmp eq reg 1 0x00000001',
      'payload load 1b @ transport header + 0 => reg 1', 'cmp eq reg 1 0x00000008', 'immediate reg 0 accept'],
  ],
  ['ip saddr 0.0.0.0/0 accept', [...NF4, 'payload load 4b @ network header + 12 => reg 1', 'bitwise reg 1 = ( reg 1 & 0x00000000 ) ^ 0x00000000', 'cmp eq reg 1 0x00000000', 'immediate reg 0 accept']],
  [
    'ip6 saddr fd00::/65 th dport 5 th sport 6 accept',
    [...NF6, 'payload load 16b @ network header + 8 => reg 1',
      'bitwise reg 1 = ( reg 1 & 0xffffffff 0xffffffff 0x00000080 0x00000000 ) ^ 0x00000000 0x00000000 0x00000000 0x00000000',
      'cmp eq reg 1 0x000000fd 0x00000000 0x00000000 0x00000000', 'payload load 4b @ transport header + 0 => reg 1', 'cmp eq reg 1 0x05000600', 'immediate reg 0 accept'],
  ],
  [
    'meta nfproto ipv4 ip saddr 10.0.0.1 ip daddr 10.0.0.2 accept',
    [...NF4, 'payload load 4b @ network header + 12 => reg 1', 'cmp eq reg 1 0x0100000a', 'payload load 4b @ network header + 16 => reg 1', 'cmp eq reg 1 0x0200000a', 'immediate reg 0 accept'],
  ],
  [
    'th sport 7 th dport != 2 accept',
    ['payload load 2b @ transport header + 0 => reg 1', 'cmp eq reg 1 0x00000700', 'payload load 2b @ transport header + 2 => reg 1', 'cmp neq reg 1 0x00000200', 'immediate reg 0 accept'],
  ],
  [
    'meta l4proto 6 th sport != 1-1 th dport != 2 accept',
    ['meta load l4proto => reg 1', 'cmp eq reg 1 0x00000006', 'payload load 2b @ transport header + 0 => reg 1', 'range neq reg 1 0x00000100 0x00000100',
      'payload load 2b @ transport header + 2 => reg 1', 'cmp neq reg 1 0x00000200', 'immediate reg 0 accept'],
  ],
  [
    // Merged across other statements, where the lower offset stood.
    'meta l4proto 6 th dport 2 ip saddr 10.0.0.0/8 th sport 1 accept',
    ['meta load l4proto => reg 1', 'cmp eq reg 1 0x00000006', ...NF4, 'payload load 1b @ network header + 12 => reg 1', 'cmp eq reg 1 0x0000000a',
      'payload load 4b @ transport header + 0 => reg 1', 'cmp eq reg 1 0x02000100', 'immediate reg 0 accept'],
  ],
  ['log prefix "calico-packet: " counter', ['log prefix calico-packet:  ', 'counter pkts 0 bytes 0']],
  ['ct state established,related accept', ['ct load state => reg 1', 'bitwise reg 1 = ( reg 1 & 0x00000006 ) ^ 0x00000000', 'cmp neq reg 1 0x00000000', 'immediate reg 0 accept']],
  ['meta l4proto != 17 iifname vmap @m', ['meta load l4proto => reg 1', 'cmp neq reg 1 0x00000011', 'meta load iifname => reg 1', 'lookup reg 1 set m dreg 0']],
  ['meta l4proto 17 oifname "cali*" return', ['meta load l4proto => reg 1', 'cmp eq reg 1 0x00000011', 'meta load oifname => reg 1', 'cmp eq reg 1 0x696c6163', 'immediate reg 0 return']],
  [
    'meta nfproto ipv4 iifname . ip saddr != @ws4 counter drop',
    [...NF4, 'meta load iifname => reg 1', 'payload load 4b @ network header + 12 => reg 2', 'lookup reg 1 set ws4 0x1', 'counter pkts 0 bytes 0', 'immediate reg 0 drop'],
  ],
  [
    'ip6 saddr @p6 ip6 daddr != @a6 masquerade fully-random',
    [...NF6, 'payload load 16b @ network header + 8 => reg 1', 'lookup reg 1 set p6', 'payload load 16b @ network header + 24 => reg 1', 'lookup reg 1 set a6 0x1', 'masq flags 0x10'],
  ],
];

describe('nftables rule parser', () => {
  it('makes of each rule text the expressions nft 1.0.6 makes', () => {
    for (const [body, want] of GOLDEN) assert.deepEqual(parsed(body), want, body);
  });

  it('returns undefined for what it does not reproduce exactly (the transaction then goes through nft)', () => {
    for (const body of [
      'th dport { 80, 443 } accept', // anonymous set
      'th dport vmap { 80 : goto a }',
      'tcp dport 80 accept', // protocol-specific payloads are not written by the renderers' policy rules
      'iifname "eth0" accept', // an exact name (not a prefix)
      'th sport != 1 th dport != 2 accept', // nft 1.0.6 merges these into one `!=`: "not both"
      'th sport != 1 counter th dport != 2 accept', // even apart
      'th sport 1-1 accept', // not checked
      'ip saddr 10.0.0.1/8 accept', // host bits set
      'meta nfproto ipv6 ip saddr 10.0.0.1 accept', // conflicting families
      'meta l4proto 17 icmp type 8 accept',
      'accept counter', // a verdict not last
      'log prefix "$x" counter',
      'jump 9chain',
      'ip saddr 1.2.3.4 masquerade', // only `masquerade fully-random` was checked
      'ip saddr 1.2.3.4 masquerade fully-random accept', // nothing after it
      'meta l4proto tcp accept',
      '',
    ]) {
      assert.equal(parseRule(body), undefined, body);
    }
  });

  it('parses every rule the rule renderer writes for lists up to the inline limit', () => {
    const ctx: RuleRenderContext = { marks: DEFAULT_MARKS, families: [4, 6], logPrefix: 'calico-packet', setName: (kind, fam, id) => `v${fam}${kind === 'ip-port' ? 'p' : ''}-${id}` };
    const rules: CompiledRule['match'][] = [
      { protocol: 6, src: { nets: ['10.0.0.0/8', 'fd00::/16'], notPorts: [{ first: 1, last: 5 }] }, dst: { ports: [{ first: 80, last: 80 }, { first: 90, last: 99 }], notNets: ['10.1.0.0/16'] } },
      { src: { ipSets: ['a'], notIpSets: ['b'] }, dst: { namedPortIpSets: ['c'], ports: [{ first: 22, last: 22 }], notNamedPortIpSets: ['d'] } },
      { protocol: 1, icmp: { type: 8, code: 0 }, src: {}, dst: {} },
      { protocol: 58, notIcmp: { type: 1 }, notProtocol: 17, src: {}, dst: {} },
      { ipVersion: 6, src: {}, dst: {} },
    ];
    let count = 0;
    for (const match of rules) {
      for (const action of ['allow', 'deny', 'pass', 'log'] as const) {
        for (const flavor of ['normal', 'untracked'] as const) {
          for (const r of renderRule({ match, action, origin: { policy: 'p', direction: 'ingress', index: 0 } }, flavor, ctx)) {
            assert.ok(parseRule(r.body), r.body);
            count++;
          }
        }
      }
    }
    assert.ok(count > 60, `${count} rules`);
  });
});

describe('nftables expression encoder', () => {
  it('lays out expressions as nft does (`nft --debug=mnl`)', () => {
    const [bitwise, immediate] = encodeExpressions([
      { kind: 'bitwise', sreg: 1, dreg: 1, mask: Buffer.from('efffffff', 'hex'), xor: Buffer.from('10000000', 'hex'), boolOp: true },
      { kind: 'verdict', word: 'jump', chain: 'c2' },
    ])!;
    // list element (76) { name "bitwise", data (60) { sreg 1, dreg 1, op 0, len 4, mask { value }, xor { value } } }
    assert.equal(
      bitwise!.toString('hex'),
      '4c000180' + '0c000100' + Buffer.from('bitwise\0').toString('hex') + '3c000280' + '0800010000000001' + '0800020000000001' + '0800060000000000' + '0800030000000004' +
        '0c000480' + '08000100efffffff' + '0c000580' + '0800010010000000',
    );
    // list element (56) { name "immediate", data (36) { dreg 0, data (24) { verdict (20) { code -3, chain "c2" } } } }
    assert.equal(
      immediate!.toString('hex'),
      '38000180' + '0e000100' + Buffer.from('immediate\0').toString('hex') + '0000' + '24000280' + '0800010000000000' + '18000280' + '14000280' + '08000100fffffffd' + '07000200' + '63320000',
    );
    assert.equal(encodeExpressions([{ kind: 'verdict', word: 'queue' }]), undefined);
    // list element (28) { name "masq", data (12) { flags 0x10 } }, captured for `masquerade fully-random`.
    assert.equal(encodeExpressions([{ kind: 'masq', flags: 0x10 }])![0]!.toString('hex'), '1c000180090001006d617371000000000c0002800800010000000010');
  });

  it('stores a comment as nft does, and refuses one longer than nft allows', () => {
    const buf = Buffer.alloc(3 + 3 * 128);
    const n = writeCommentUserdata(buf, 1, 'mg:ab');
    assert.equal(buf.subarray(1, 1 + n).toString('hex'), '0006' + Buffer.from('mg:ab\0').toString('hex'));
    assert.equal(writeCommentUserdata(buf, 0, 'x'.repeat(128)), 0);
  });
});
