import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodeElementBatch, encodeTransactionBatch, type TxOp } from '../../src/dataplane/nftables/netlink-batch.ts';
import { encodeKey } from '../../src/dataplane/nftables/netlink-keys.ts';
import { readNetlinkMessages } from '../../src/dataplane/nftables/netlink-read.ts';

/** The type and flags of each netlink message of a batch. */
function headers(batch: Buffer): Array<{ type: number; flags: number }> {
  const { messages, bytes } = readNetlinkMessages(batch);
  assert.equal(bytes, batch.length, 'whole messages only');
  return messages.map((m) => ({ type: m.type, flags: m.flags }));
}

/** The 32-bit words of a key as `nft --debug=netlink` prints them (little-endian words). */
function words(key: Buffer): string {
  const out: string[] = [];
  for (let i = 0; i < key.length; i += 4) out.push(key.subarray(i, i + 4).reverse().toString('hex'));
  return out.join(' ');
}

describe('nftables netlink batch - keys', () => {
  it('lays out keys as nft does (checked against `nft --debug=netlink`)', () => {
    assert.equal(words(encodeKey('ipv4_addr . inet_proto . inet_service', '10.70.4.2 . 6 . 8080')!), '0204460a 00000006 0000901f');
    assert.equal(words(encodeKey('ifname', 'cali12')!), '696c6163 00003231 00000000 00000000');
    assert.equal(words(encodeKey('ipv4_addr', '10.0.1.5')!), '0501000a');
    assert.equal(encodeKey('ipv6_addr', 'fd00::1')!.toString('hex'), 'fd000000000000000000000000000001');
    assert.equal(encodeKey('inet_proto', 'udp')!.toString('hex'), '11');
    assert.equal(encodeKey('inet_service', '53')!.toString('hex'), '0035');
  });

  it('refuses what it cannot encode exactly, so that nft is used', () => {
    assert.equal(encodeKey('ipv4_addr', '10.0.0.0/24'), undefined);
    assert.equal(encodeKey('ipv4_addr', 'fd00::1'), undefined);
    assert.equal(encodeKey('inet_service', '80-90'), undefined);
    assert.equal(encodeKey('inet_service', '70000'), undefined);
    assert.equal(encodeKey('ifname', 'cali*'), undefined);
    assert.equal(encodeKey('ifname', 'a-name-far-too-long'), undefined);
    assert.equal(encodeKey('mark', '1'), undefined);
    assert.equal(encodeKey('ipv4_addr . inet_proto', '10.0.0.1'), undefined);
    const set = { verb: 'add' as const, set: 's', keyType: 'ipv4_addr', elements: [{ key: '10.0.0.1' }] };
    assert.equal(encodeElementBatch('margay', [{ ...set, flags: ['interval'] }]), undefined);
    assert.equal(encodeElementBatch('margay', [{ ...set, flags: [], keyType: 'ifname', elements: [{ key: 'cali1', verdict: 'queue' }] }]), undefined);
    assert.equal(encodeElementBatch('margay', []), undefined);
  });

  it('leaves batches past a netlink attribute (64 KiB) or the given size to nft instead of throwing', () => {
    // 20,000 addresses: one element list of ~240 KiB, more than an attribute's 16-bit length.
    const elements = Array.from({ length: 20_000 }, (_, i) => ({ key: `10.${(i >> 16) & 255}.${(i >> 8) & 255}.${i & 255}` }));
    const big = { verb: 'add' as const, set: 's', keyType: 'ipv4_addr', flags: [], elements };
    assert.equal(encodeElementBatch('margay', [big]), undefined);
    const small = { ...big, elements: elements.slice(0, 100) };
    const batch = encodeElementBatch('margay', [small]);
    assert.ok(batch && batch.length > 1000);
    assert.equal(encodeElementBatch('margay', [small], batch.length - 1), undefined, 'over the limit');
    assert.deepEqual(encodeElementBatch('margay', [small], batch.length), batch, 'exactly at the limit');
  });

  it('frames a batch: begin, one message per op with an acknowledgement asked, end', () => {
    const batch = encodeElementBatch('margay', [
      { verb: 'delete', set: 'to-wl', keyType: 'ifname', flags: [], elements: [{ key: 'cali1' }] },
      { verb: 'add', set: 'to-wl', keyType: 'ifname', flags: [], elements: [{ key: 'cali1', verdict: 'goto twp_abc' }] },
    ])!;
    const messages = headers(batch);
    assert.deepEqual(
      messages.map((m) => m.type),
      [0x10, (10 << 8) | 14, (10 << 8) | 12, 0x11],
    );
    assert.equal(messages[1]!.flags & 0x4, 0x4, 'delete asks for an acknowledgement');
    assert.equal(messages[2]!.flags & 0x400, 0x400, 'add creates');
    assert.ok(batch.includes(Buffer.from('twp_abc\0')), 'the verdict names its chain');
  });

  it('creates sets as nft 1.0.6 does (`nft --debug=mnl`): type, key length, batch-local id, user data', () => {
    const batch = encodeTransactionBatch('margay', [
      { kind: 'addSet', set: 'a', keyType: 'ipv4_addr', flags: [] },
      { kind: 'addSet', set: 'c', keyType: 'ipv4_addr . inet_proto . inet_service', flags: [] },
    ])!;
    assert.equal(headers(batch)[1]!.type, (10 << 8) | 9);
    // After the message and nfgenmsg headers: table, name, flags 0, key type 7, key length 4, id 1, user data (byte order 2).
    const first = batch.subarray(20 + 20, 20 + 84).toString('hex');
    assert.equal(first, '0b0001006d61726761790000' + '0600020061000000' + '0800030000000000' + '0800040000000007' + '0800050000000004' + '08000a0000000001' + '0a000d00000402000000' + '0000');
    assert.ok(batch.includes(Buffer.from('08000400' + '0000730d' + '08000500' + '0000000c' + '08000a00' + '00000002', 'hex')), 'the concatenation: type, 12 bytes, id 2');
  });

  it('creates verdict maps and base chains as nft 1.0.6 does (`nft --debug=mnl`)', () => {
    const batch = encodeTransactionBatch('t', [
      { kind: 'addMap', map: 'm', keyType: 'ifname' },
      { kind: 'addBaseChain', chain: 'c', base: { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' } },
      { kind: 'addBaseChain', chain: 'p', base: { type: 'filter', hook: 'prerouting', priority: -300, policy: 'accept' } },
      { kind: 'addBaseChain', chain: 'n', base: { type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept' } },
    ])!;
    const messages = headers(batch);
    assert.deepEqual(
      messages.map((m) => m.type),
      [0x10, (10 << 8) | 9, (10 << 8) | 3, (10 << 8) | 3, (10 << 8) | 3, 0x11],
    );
    const bodies = (at: number, len: number): string => batch.subarray(at + 20, at + len).toString('hex');
    // Captured from `nft --debug=mnl` of `add map inet t m { type ifname : verdict; }` and the chains.
    const map = bodies(20, 108);
    assert.equal(
      map,
      '0600010074000000' + '060002006d000000' + '0800030000000008' + '0800040000000029' + '0800050000000010' + '08000600ffffff00' + '0800070000000000' + '08000a0000000001' +
        '16000d00' + '000401000000010400000000060400000000' + '0000',
    );
    const table = '0600010074000000';
    const filter = '0b00070066696c7465720000';
    assert.equal(bodies(128, 76), table + '0600030063000000' + filter + '0800050000000001' + '14000480' + '0800010000000002' + '0800020000000000');
    assert.equal(bodies(204, 76), table + '0600030070000000' + filter + '0800050000000001' + '14000480' + '0800010000000000' + '08000200fffffed4');
    assert.equal(bodies(280, 72), table + '060003006e000000' + '080007006e617400' + '0800050000000001' + '14000480' + '0800010000000004' + '0800020000000064');
    assert.equal(encodeTransactionBatch('t', [{ kind: 'addMap', map: 'm', keyType: 'ipv4_addr' }]), undefined, 'another key type: nft');
  });

  it('writes a rule with an anonymous verdict map as nft 1.0.6 does (`nft --debug=mnl`): map, elements, rule by map id', () => {
    const batch = encodeTransactionBatch('t', [
      { kind: 'addRule', chain: 'd', body: 'meta l4proto vmap { 6 : goto a, 17 : goto b }', comment: 'x' },
      { kind: 'addRule', chain: 'd', body: 'th dport vmap { 80 : goto a, 443 : goto b }', comment: 'y' },
    ])!;
    // Each message after its 16-byte header, as nft sent them for the same two rules.
    const captured = [
      '0100000006000100740000000c0002005f5f6d6170256400080003000000000b080004000000000c080005000000000108000600ffffff00080007000000000008000a00000000010c000980080001000000000220000d0000040100000001040000000004080004010000000100060400000000',
      '0100000006000100740000000c0002005f5f6d6170256400080004000000000154000380280001800c0001800500010006000000180002801400028008000100fffffffc0600020061000000280002800c0001800500010011000000180002801400028008000100fffffffc0600020062000000',
      '01000000060001007400000006000200640000006000048024000180090001006d657461000000001400028008000200000000100800010000000001380001800b0001006c6f6f6b7570000028000280080002000000000108000300000000000c0001005f5f6d617025640008000400000000010800070000027800',
      '0100000006000100740000000c0002005f5f6d6170256400080003000000000b080004000000000d080005000000000208000600ffffff00080007000000000008000a00000000020c000980080001000000000220000d0000040200000001040000000004080004010000000100060400000000',
      '0100000006000100740000000c0002005f5f6d6170256400080004000000000254000380280001800c0001800600010000500000180002801400028008000100fffffffc0600020061000000280002800c0001800600010001bb0000180002801400028008000100fffffffc0600020062000000',
      '010000000600010074000000060002006400000070000480340001800c0001007061796c6f616400240002800800010000000001080002000000000208000300000000020800040000000002380001800b0001006c6f6f6b7570000028000280080002000000000108000300000000000c0001005f5f6d617025640008000400000000020800070000027900',
    ];
    const bodies: string[] = [];
    for (let at = 0; at < batch.length; at += batch.readUInt32LE(at)) {
      bodies.push(batch.subarray(at + 16, at + batch.readUInt32LE(at)).toString('hex'));
      assert.equal(batch.readUInt32LE(at + 8), bodies.length, 'numbered in order');
    }
    assert.deepEqual(bodies.slice(1, -1), captured);
    // Port ranges: an interval map (flags anonymous·constant·interval·map, sized in kernel elements),
    // its ranges sorted after a zero end element, each start with its verdict and a flagged end.
    const ranged = encodeTransactionBatch('t', [{ kind: 'addRule', chain: 'd', body: 'th dport vmap { 80 : goto a, 8000-8100 : goto b, 443 : goto a }', comment: 'y' }])!;
    const rangedBodies: string[] = [];
    for (let at = 0; at < ranged.length; at += ranged.readUInt32LE(at)) rangedBodies.push(ranged.subarray(at + 16, at + ranged.readUInt32LE(at)).toString('hex'));
    assert.deepEqual(rangedBodies.slice(1, -1), [
      '0100000006000100740000000c0002005f5f6d6170256400080003000000000f080004000000000d080005000000000208000600ffffff00080007000000000008000a00000000010c000980080001000000000720000d0000040200000001040000000004080004010000000100060400000000',
      '0100000006000100740000000c0002005f5f6d61702564000800040000000001dc0003801800018008000300000000010c0001800600010000000000280002800c0001800600010000500000180002801400028008000100fffffffc06000200610000001800038008000300000000010c0001800600010000510000280004800c0001800600010001bb0000180002801400028008000100fffffffc06000200610000001800058008000300000000010c0001800600010001bc0000280006800c000180060001001f400000180002801400028008000100fffffffc06000200620000001800078008000300000000010c000180060001001fa50000',
      '010000000600010074000000060002006400000070000480340001800c0001007061796c6f616400240002800800010000000001080002000000000208000300000000020800040000000002380001800b0001006c6f6f6b7570000028000280080002000000000108000300000000000c0001005f5f6d617025640008000400000000010800070000027900',
    ]);
    // Touching ranges: no end where the next range starts (the size still counts it).
    const touching = encodeTransactionBatch('t', [{ kind: 'addRule', chain: 'd', body: 'th dport vmap { 8010 : goto a, 8011 : goto b, 8012-8020 : goto a, 9000-9100 : goto b }', comment: 'y' }])!;
    const touchingBodies: string[] = [];
    for (let at = 0; at < touching.length; at += touching.readUInt32LE(at)) touchingBodies.push(touching.subarray(at + 16, at + touching.readUInt32LE(at)).toString('hex'));
    assert.deepEqual(touchingBodies.slice(1, 3), [
      '0100000006000100740000000c0002005f5f6d6170256400080003000000000f080004000000000d080005000000000208000600ffffff00080007000000000008000a00000000010c000980080001000000000920000d0000040200000001040000000004080004010000000100060400000000',
      '0100000006000100740000000c0002005f5f6d61702564000800040000000001ec0003801800018008000300000000010c0001800600010000000000280002800c000180060001001f4a0000180002801400028008000100fffffffc0600020061000000280003800c000180060001001f4b0000180002801400028008000100fffffffc0600020062000000280004800c000180060001001f4c0000180002801400028008000100fffffffc06000200610000001800058008000300000000010c000180060001001f550000280006800c0001800600010023280000180002801400028008000100fffffffc06000200620000001800078008000300000000010c00018006000100238d0000',
    ]);
    // Overlapping ranges, the last port, other selectors: nft.
    for (const body of ['th dport vmap { 80 : goto a, 80-90 : goto b }', 'th dport vmap { 80-65535 : goto a }', 'th sport vmap { 80 : goto a }', 'meta l4proto vmap { 6-17 : goto a }']) {
      assert.equal(encodeTransactionBatch('t', [{ kind: 'addRule', chain: 'd', body, comment: 'y' }]), undefined, body);
    }
  });

  it('creates interval sets of addresses with their first elements as nft 1.0.6 does (`nft --debug=mnl`)', () => {
    const ops = (v4: string[]): TxOp[] => [
      { kind: 'addSet', set: 's', keyType: 'ipv4_addr', flags: ['interval'] },
      { kind: 'elements', op: { verb: 'add', set: 's', keyType: 'ipv4_addr', flags: ['interval'], elements: v4.map((key) => ({ key })) } },
      { kind: 'addSet', set: 's6', keyType: 'ipv6_addr', flags: ['interval'] },
      { kind: 'elements', op: { verb: 'add', set: 's6', keyType: 'ipv6_addr', flags: ['interval'], elements: [{ key: 'fd00::/64' }] } },
    ];
    const batch = encodeTransactionBatch('t', ops(['10.244.0.0/16', '192.168.1.0/24', '10.0.0.1']))!;
    // Each message after its 16-byte header, as nft sent them for the same sets and elements.
    const captured = [
      '010000000600010074000000060002007300000008000300000000040800040000000007080005000000000408000a00000000010a000d000004020000000000',
      '01000000060001007400000006000200730000000800040000000001940003801800018008000300000000010c0001800800010000000000100002800c000180080001000a0000011800038008000300000000010c000180080001000a000002100004800c000180080001000af400001800058008000300000000010c000180080001000af50000100006800c00018008000100c0a801001800078008000300000000010c00018008000100c0a80200',
      '010000000600010074000000070002007336000008000300000000040800040000000008080005000000001008000a00000000020a000d000004020000000000',
      '01000000060001007400000007000200733600000800040000000002680003802400018008000300000000011800018014000100000000000000000000000000000000001c0002801800018014000100fd0000000000000000000000000000002400038008000300000000011800018014000100fd000000000000010000000000000000',
    ];
    const bodies: string[] = [];
    for (let at = 0; at < batch.length; at += batch.readUInt32LE(at)) bodies.push(batch.subarray(at + 16, at + batch.readUInt32LE(at)).toString('hex'));
    assert.deepEqual(bodies.slice(1, -1), captured);
    // Touching or overlapping ranges, the last address, elements of a set that exists, deletions: nft.
    assert.equal(encodeTransactionBatch('t', ops(['10.0.0.0/24', '10.0.1.0/24'])), undefined);
    assert.equal(encodeTransactionBatch('t', ops(['10.0.0.0/8', '10.1.0.0/16'])), undefined);
    assert.equal(encodeTransactionBatch('t', ops(['0.0.0.0/0'])), undefined);
    assert.equal(encodeTransactionBatch('t', ops(['10.0.0.0/8']).slice(1, 2)), undefined);
  });

  it('adds to and deletes from interval sets of addresses that exist as nft 1.0.6 does (`nft --debug=mnl`)', () => {
    const op = (verb: 'add' | 'delete', set: string, keys: string[], kernelElements?: number) =>
      ({ verb, set, keyType: 'ipv4_addr', flags: ['interval'], elements: keys.map((key) => ({ key })), ...(kernelElements === undefined ? {} : { kernelElements }) }) as const;
    const bodies = (b: Buffer | undefined): string[] => {
      const out: string[] = [];
      for (let at = 0; b && at < b.length; at += b.readUInt32LE(at)) out.push(b.subarray(at + 16, at + b.readUInt32LE(at)).toString('hex'));
      return out.slice(1, -1);
    };
    // Captured: nft sends the set's id when adding (`08000400000000xx`), which names no set of the batch: left out here.
    const id = /08000400000000[0-9a-f]{2}/;
    // Two ranges added to a set holding some: each start and flagged end, no zero element.
    const added = '010000000600010074000000060002006e000000080004000000000254000380100001800c000180080001000a0300001800028008000300000000010c000180080001000a040000100003800c00018008000100ac1000001800048008000300000000010c00018008000100ac200000';
    assert.deepEqual(bodies(encodeElementBatch('t', [op('add', 'n', ['172.16.0.0/12', '10.3.0.0/16'], 2)])), [added.replace(id, '')]);
    // To a set that exists and holds nothing: after a zero end element, as for a new set.
    const first = '01000000060001007400000006000200650000000800040000000001440003801800018008000300000000010c0001800800010000000000100002800c000180080001000a0500001800038008000300000000010c000180080001000a060000';
    assert.deepEqual(bodies(encodeElementBatch('t', [op('add', 'e', ['10.5.0.0/16'], 0)])), [first.replace(id, '')]);
    // A range touching one the set holds: the same form (the kernel keeps both ends).
    const touching = '010000000600010074000000060002006100000008000400000000032c000380100001800c000180080001000a0200001800028008000300000000010c000180080001000a030000';
    assert.deepEqual(bodies(encodeElementBatch('t', [op('add', 'a', ['10.2.0.0/16'], 1)])), [touching.replace(id, '')]);
    // Deleted: its start and flagged end (the zero element stays).
    const deleted = encodeElementBatch('t', [op('delete', 'n', ['10.1.0.0/16'], 4)]);
    assert.equal(headers(deleted!)[1]!.type, (10 << 8) | 14);
    assert.deepEqual(bodies(deleted), ['010000000600010074000000060002006e0000002c000380100001800c000180080001000a0100001800028008000300000000010c000180080001000a020000']);
    // A replaced net: the deletion, then the addition without a zero element while the set holds others.
    const replaced = bodies(encodeElementBatch('t', [op('delete', 'n', ['10.1.0.0/16'], 4), op('add', 'n', ['172.16.0.0/12', '10.3.0.0/16'], 4)]));
    assert.equal(replaced[1], added.replace(id, ''));
    // Without the kernel's count (not known to hold what it holds): nft.
    assert.equal(encodeElementBatch('t', [op('add', 'n', ['10.3.0.0/16'])]), undefined);
  });

  it('creates concatenated interval sets (`ifname . ipv4_addr`, flags interval) with elements as nft 1.0.6 does (`nft --debug=mnl`)', () => {
    const v4 = ['"cali1" . 10.244.1.1/32', '"cali2" . 10.244.0.0/16', '"cali12345678901" . 192.168.1.0/24'];
    const batch = encodeTransactionBatch('t', [
      { kind: 'addSet', set: 's', keyType: 'ifname . ipv4_addr', flags: ['interval'] },
      { kind: 'elements', op: { verb: 'add', set: 's', keyType: 'ifname . ipv4_addr', flags: ['interval'], elements: v4.map((key) => ({ key })) } },
      { kind: 'addSet', set: 's6', keyType: 'ifname . ipv6_addr', flags: ['interval'] },
      { kind: 'elements', op: { verb: 'add', set: 's6', keyType: 'ifname . ipv6_addr', flags: ['interval'], elements: [{ key: '"cali1" . fd00::1/128' }, { key: '"cali2" . fd00:b::/64' }] } },
    ])!;
    // Each message after its 16-byte header, as nft sent them for the same sets and elements:
    // flags interval|concat, the field lengths in NFTA_SET_DESC_CONCAT, each element a key and a key end.
    const captured = [
      '010000000600010074000000060002007300000008000300000000840800040000000a47080005000000001408000a0000000001200009801c0002800c00018008000100000000100c000180080001000000000414000d00000400000000030800040d0000000100',
      '01000000060001007400000006000200730000000800040000000001b80003803c0001801c0001801800010063616c693100000000000000000000000af401011c000a801800010063616c693100000000000000000000000af401013c0002801c0001801800010063616c693200000000000000000000000af400001c000a801800010063616c693200000000000000000000000af4ffff3c0003801c0001801800010063616c69313233343536373839303100c0a801001c000a801800010063616c69313233343536373839303100c0a801ff',
      '010000000600010074000000070002007336000008000300000000840800040000000a48080005000000002008000a0000000002200009801c0002800c00018008000100000000100c000180080001000000001014000d00000400000000030800040d0000000100',
      '01000000060001007400000007000200733600000800040000000002ac00038054000180280001802400010063616c69310000000000000000000000fd00000000000000000000000000000128000a802400010063616c69310000000000000000000000fd00000000000000000000000000000154000280280001802400010063616c69320000000000000000000000fd00000b00000000000000000000000028000a802400010063616c69320000000000000000000000fd00000b00000000ffffffffffffffff',
    ];
    const bodies = (b: Buffer): string[] => {
      const out: string[] = [];
      for (let at = 0; at < b.length; at += b.readUInt32LE(at)) out.push(b.subarray(at + 16, at + b.readUInt32LE(at)).toString('hex'));
      return out.slice(1, -1);
    };
    assert.deepEqual(bodies(batch), captured);
    // Added to and deleted from a set that exists (nft also sends a set id when adding, `0800040000000001`, which names no set of the batch: left out).
    const existing = (verb: 'add' | 'delete', key: string): Buffer =>
      encodeElementBatch('t', [{ verb, set: 's', keyType: 'ifname . ipv4_addr', flags: ['interval'], elements: [{ key }] }])!;
    const added = '0100000006000100740000000600020073000000' + '0800040000000001' + '400003803c0001801c0001801800010063616c693300000000000000000000000a0100001c000a801800010063616c693300000000000000000000000a01ffff';
    assert.deepEqual(bodies(existing('add', '"cali3" . 10.1.0.0/16')), [added.replace('0800040000000001', '')]);
    assert.equal(headers(existing('add', '"cali3" . 10.1.0.0/16'))[1]!.type, (10 << 8) | 12);
    const deleted = existing('delete', '"cali1" . 10.244.1.1/32');
    assert.equal(headers(deleted)[1]!.type, (10 << 8) | 14);
    assert.deepEqual(bodies(deleted), ['0100000006000100740000000600020073000000400003803c0001801c0001801800010063616c693100000000000000000000000af401011c000a801800010063616c693100000000000000000000000af40101']);
    // Read back as an address without a prefix: the same element.
    assert.deepEqual(bodies(existing('delete', '"cali1" . 10.244.1.1')), bodies(deleted));
    // What is not an interface and a net of the set's family: nft.
    for (const key of ['"cali1" . fd00::1', '"cali*" . 10.0.0.0/8', '10.0.0.0/8', '"cali1" . 10.0.0.0/8 . 1', '"cali1234567890123" . 10.0.0.1']) {
      assert.equal(existing('add', key), undefined, key);
    }
    // Many elements: several messages of at most 500, each element list within a netlink attribute.
    const many = Array.from({ length: 1200 }, (_, i) => ({ key: `"cali${i}" . fd00::${i.toString(16)}/128` }));
    const large = encodeElementBatch('t', [{ verb: 'add', set: 's6', keyType: 'ifname . ipv6_addr', flags: ['interval'], elements: many }])!;
    assert.deepEqual(
      headers(large).map((m) => m.type),
      [0x10, (10 << 8) | 12, (10 << 8) | 12, (10 << 8) | 12, 0x11],
    );
  });

  it('writes the NAT-outgoing masquerade and an anonymous set of ICMPv6 types as nft 1.0.6 does (`nft --debug=mnl`)', () => {
    const batch = encodeTransactionBatch('t', [
      { kind: 'addSet', set: 'p', keyType: 'ipv4_addr', flags: ['interval'] },
      { kind: 'addSet', set: 'p6', keyType: 'ipv6_addr', flags: ['interval'] },
      { kind: 'addRule', chain: 'c', body: 'ip saddr @p ip daddr != @p masquerade fully-random', comment: 'x' },
      { kind: 'addRule', chain: 'h', body: 'meta l4proto 58 icmpv6 type { 130, 131, 132, 133, 135, 136 } accept', comment: 'z' },
    ])!;
    const bodies: string[] = [];
    for (let at = 0; at < batch.length; at += batch.readUInt32LE(at)) bodies.push(batch.subarray(at + 16, at + batch.readUInt32LE(at)).toString('hex'));
    // nft names the sets of its batch by id in a lookup too (`0800040000000001`); by name alone the kernel finds the same set.
    const masq =
      '01000000060001007400000006000200630000003801048024000180090001006d6574610000000014000280080002000000000f08000100000000012c00018008000100636d700020000280080001000000000108000200000000000c0003800500010002000000340001800c0001007061796c6f6164002400028008000100000000010800020000000001080003000000000c08000400000000042c0001800b0001006c6f6f6b757000001c000280080002000000000106000100700000000800040000000001340001800c0001007061796c6f616400240002800800010000000001080002000000000108000300000000100800040000000004340001800b0001006c6f6f6b757000002400028008000200000000010600010070000000080004000000000108000500000000011c000180090001006d617371000000000c00028008000100000000100800070000027800';
    assert.equal(bodies[3], masq.replaceAll('0800040000000001', '0800040000000000'));
    // The anonymous set (`__set%d`, anonymous·constant, id 3, size 6), its elements by id, the rule looking it up by name and id.
    assert.deepEqual(bodies.slice(4, 7), [
      '0100000006000100740000000c0002005f5f7365742564000800030000000003080004000000001d080005000000000108000a00000000030c000980080001000000000620000d000004020000000314000407000000010c00040e000000010401000000',
      '0100000006000100740000000c0002005f5f736574256400080004000000000364000380100001800c0001800500010082000000100002800c0001800500010083000000100003800c0001800500010084000000100004800c0001800500010085000000100005800c0001800500010087000000100006800c0001800500010088000000',
      '0100000006000100740000000600020068000000e800048024000180090001006d6574610000000014000280080002000000001008000100000000012c00018008000100636d700020000280080001000000000108000200000000000c000380050001003a000000340001800c0001007061796c6f616400240002800800010000000001080002000000000208000300000000000800040000000001300001800b0001006c6f6f6b757000002000028008000200000000010c0001005f5f7365742564000800040000000003300001800e000100696d6d6564696174650000001c0002800800010000000000100002800c00028008000100000000010800070000027a00',
    ]);
    // Other anonymous sets stay with nft.
    for (const body of ['th dport { 80, 443 } accept', 'icmpv6 type != { 1, 2 } accept', 'meta l4proto 58 icmpv6 type { 130, 300 } accept', 'icmp type . icmp code != { 3 . 1 } accept']) {
      assert.equal(encodeTransactionBatch('t', [{ kind: 'addRule', chain: 'h', body, comment: 'z' }]), undefined, body);
    }
  });

  it('frames chains and rules: new chain, flush, rules appended, chain and set deleted, in the order given', () => {
    const batch = encodeTransactionBatch('margay', [
      { kind: 'addChain', chain: 'pi-gnp/x' },
      { kind: 'flushChain', chain: 'twp_1' },
      { kind: 'addRule', chain: 'pi-gnp/x', body: 'meta l4proto 6 ip saddr @v4-s.a th dport 80 counter drop', comment: 'mg:0123456789abcdef gnp/x ingress 0' },
      { kind: 'addRule', chain: 'twp_1', body: 'jump pi-gnp/x', comment: 'mg:0123456789abcdef tier' },
      { kind: 'deleteChain', chain: 'pi-old' },
      { kind: 'deleteSet', set: 'v4-old' },
    ])!;
    const messages = headers(batch);
    const nft = (type: number) => (10 << 8) | type;
    assert.deepEqual(
      messages.map((m) => m.type),
      [0x10, nft(3), nft(8), nft(6), nft(6), nft(5), nft(11), 0x11],
    );
    assert.equal(messages[3]!.flags & 0xc00, 0xc00, 'a rule is created and appended');
    assert.ok(batch.includes(Buffer.from('mg:0123456789abcdef gnp/x ingress 0\0')), 'with its comment');
    // One command without a netlink form sends the whole transaction to nft.
    assert.equal(encodeTransactionBatch('margay', [{ kind: 'addChain', chain: 'c' }, { kind: 'other' }]), undefined);
    assert.equal(encodeTransactionBatch('margay', [{ kind: 'addSet', set: 'v4n-x', keyType: 'ipv4_addr . inet_proto . inet_service', flags: ['interval'] }]), undefined);
    assert.equal(encodeTransactionBatch('margay', [{ kind: 'addSet', set: 'x', keyType: 'ifname', flags: [] }]), undefined);
    assert.equal(encodeTransactionBatch('margay', [{ kind: 'addRule', chain: 'c', body: 'th dport { 1, 2 } accept', comment: 'mg:0123456789abcdef' }]), undefined);
  });
});
