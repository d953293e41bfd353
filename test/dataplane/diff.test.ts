import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { applyToView, computeTransaction, renderTable, type TableRef } from '../../src/dataplane/nftables/diff.ts';
import { canonicalElement, deleteTextOf, emptyKernelTable, parseNftListing, type KernelTable } from '../../src/dataplane/nftables/kernel.ts';
import { DesiredState, emptyDirty, hashFromComment, rule, ruleComment } from '../../src/dataplane/nftables/state.ts';

const T: TableRef = { family: 'inet', name: 'margay' };

function desiredSample(): DesiredState {
  const d = new DesiredState();
  d.setSet({ name: 'v4-s.a', type: 'ipv4_addr', flags: ['interval'], elements: new Set(['10.0.0.1/32', '10.1.0.0/16']) });
  d.setChain({ name: 'pi-gnp/a', rules: [rule('ip saddr @v4-s.a accept', 'gnp/a ingress 0')] });
  d.setChain({ name: 'tw-cali1', rules: [rule('jump pi-gnp/a', 'tier'), rule('counter drop', 'end')] });
  d.setChain({
    name: 'filter-forward',
    base: { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' },
    rules: [rule('oifname "cali*" oifname vmap @to-wl')],
  });
  d.defineMap('to-wl', 'ifname');
  d.setMapElement('to-wl', 'cali1', 'goto tw-cali1');
  return d;
}

/** The kernel after `desired` was applied in full. */
function kernelAfter(desired: DesiredState): KernelTable {
  const k = emptyKernelTable();
  applyToView(k, desired, 'all', false);
  return k;
}

describe('dataplane diff - transactions', () => {
  it('creates everything in dependency order on an empty kernel', () => {
    const d = desiredSample();
    const tx = computeTransaction(emptyKernelTable(), d, 'all', T);
    const lines = tx.lines;
    const idx = (prefix: string) => lines.findIndex((l) => l.startsWith(prefix));
    assert.equal(lines[0], 'add table inet margay');
    assert.ok(idx('add set inet margay v4-s.a { type ipv4_addr; flags interval; }') > 0);
    assert.ok(idx('add chain inet margay filter-forward { type filter hook forward priority 0; policy accept; }') > 0);
    assert.ok(idx('add element inet margay v4-s.a') > idx('add set'), 'elements after the set');
    assert.ok(idx('add rule inet margay pi-gnp/a') > idx('add element inet margay v4-s.a'), 'rules after the sets they use');
    assert.ok(idx('add element inet margay to-wl') > idx('add rule inet margay tw-cali1'), 'map elements after the chains they point to');
    assert.match(lines.find((l) => l.startsWith('add rule inet margay pi-gnp/a'))!, /accept comment "mg:[0-9a-f]{16} gnp\/a ingress 0"$/);
    assert.equal(tx.stats.chainsCreated, 3);
    assert.equal(tx.stats.rulesWritten, 4);
    assert.ok(renderTable(d, T).startsWith('add table inet margay\n'));
  });

  it('is empty when the kernel already has the desired state', () => {
    const d = desiredSample();
    assert.deepEqual(computeTransaction(kernelAfter(d), d, 'all', T).lines, []);
  });

  it('rewrites only a changed chain, flushing and refilling it in the batch', () => {
    const d = desiredSample();
    const k = kernelAfter(d);
    d.takeDirty();
    d.setChain({ name: 'pi-gnp/a', rules: [rule('ip saddr @v4-s.a accept', 'gnp/a ingress 0'), rule('tcp dport 22 drop', 'gnp/a ingress 1')] });
    d.setChain({ name: 'tw-cali1', rules: [rule('jump pi-gnp/a', 'tier'), rule('counter drop', 'end')] }); // unchanged: not dirty
    const dirty = d.takeDirty();
    assert.deepEqual([...dirty.chains], ['pi-gnp/a']);
    const tx = computeTransaction(k, d, dirty, T);
    assert.deepEqual(tx.lines.map((l) => l.replace(/ comment .*/, '')), [
      'flush chain inet margay pi-gnp/a',
      'add rule inet margay pi-gnp/a ip saddr @v4-s.a accept',
      'add rule inet margay pi-gnp/a tcp dport 22 drop',
    ]);
    // A full comparison finds the same single difference.
    assert.equal(computeTransaction(k, d, 'all', T).lines.length, 3);
  });

  it('changes set elements one by one, deletes before adds, in chunks', () => {
    const d = desiredSample();
    const k = kernelAfter(d);
    d.setSet({ name: 'v4-s.a', type: 'ipv4_addr', flags: ['interval'], elements: new Set(['10.0.0.1/32', '10.0.0.0/8'].slice(1)) });
    const tx = computeTransaction(k, d, d.takeDirty(), T);
    assert.deepEqual(tx.lines, [
      'delete element inet margay v4-s.a { 10.0.0.1/32, 10.1.0.0/16 }',
      'add element inet margay v4-s.a { 10.0.0.0/8 }',
    ]);
    const big = new Set(Array.from({ length: 2500 }, (_, i) => `10.${i >> 8}.${i & 255}.1/32`));
    d.setSet({ name: 'v4-s.a', type: 'ipv4_addr', flags: ['interval'], elements: big });
    const tx2 = computeTransaction(kernelAfter(desiredSample()), d, d.takeDirty(), T);
    assert.equal(tx2.lines.filter((l) => l.startsWith('add element')).length, 3);
    assert.equal(tx2.stats.elementsAdded, 2499, '10.0.0.1/32 was there already');
  });

  it('changes a map entry by deleting and adding it', () => {
    const d = desiredSample();
    const k = kernelAfter(d);
    d.setChain({ name: 'tw-cali2', rules: [] });
    d.setMapElement('to-wl', 'cali1', 'goto tw-cali2');
    d.setMapElement('to-wl', 'cali9', 'goto tw-cali2');
    const tx = computeTransaction(k, d, d.takeDirty(), T);
    assert.deepEqual(tx.lines, [
      'add chain inet margay tw-cali2',
      'delete element inet margay to-wl { "cali1" }',
      'add element inet margay to-wl { "cali1" : goto tw-cali2, "cali9" : goto tw-cali2 }',
    ]);
  });

  it('deletes in reverse dependency order: map entries, flush, maps, chains, sets', () => {
    const d = desiredSample();
    const k = kernelAfter(d);
    d.deleteMapElement('to-wl', 'cali1');
    d.deleteChain('tw-cali1');
    d.deleteChain('pi-gnp/a');
    d.deleteSet('v4-s.a');
    d.deleteMap('to-wl');
    d.setChain({ name: 'filter-forward', base: { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' }, rules: [] });
    const tx = computeTransaction(k, d, d.takeDirty(), T);
    assert.deepEqual(tx.lines, [
      'flush chain inet margay filter-forward',
      'flush chain inet margay pi-gnp/a',
      'flush chain inet margay tw-cali1',
      'delete map inet margay to-wl',
      'delete chain inet margay pi-gnp/a',
      'delete chain inet margay tw-cali1',
      'delete set inet margay v4-s.a',
    ]);
    assert.equal(tx.stats.chainsDeleted, 2);
  });

  it('rebuilds the table when a set or base chain has the wrong type', () => {
    const d = desiredSample();
    const k = kernelAfter(d);
    k.sets.get('v4-s.a')!.type = 'ipv6_addr';
    const tx = computeTransaction(k, d, 'all', T);
    assert.equal(tx.rebuild, true);
    assert.equal(tx.lines[0], 'delete table inet margay');
    assert.equal(tx.lines[1], 'add table inet margay');
    const k2 = kernelAfter(d);
    k2.chains.get('filter-forward')!.base!.priority = 10;
    assert.equal(computeTransaction(k2, d, 'all', T).rebuild, true);
    const k3 = kernelAfter(d);
    k3.chains.get('filter-forward')!.base = undefined;
    assert.equal(computeTransaction(k3, d, 'all', T).rebuild, true);
    // After a rebuild the view is exactly the desired state.
    applyToView(k, d, 'all', true);
    assert.deepEqual(computeTransaction(k, d, 'all', T).lines, []);
  });

  it('treats a rule without Margay\'s fingerprint as different', () => {
    const d = desiredSample();
    const k = kernelAfter(d);
    // A rule of the view replaced, not changed: the view shares the desired state's rules.
    const chain = k.chains.get('tw-cali1')!;
    chain.rules = [{ handle: 0, hash: null }, ...chain.rules.slice(1)];
    const tx = computeTransaction(k, d, 'all', T);
    assert.equal(tx.lines[0], 'flush chain inet margay tw-cali1');
    assert.equal(computeTransaction(k, d, emptyDirty(), T).lines.length, 0, 'out of scope: not compared');
  });
});

describe('dataplane diff - reading the kernel back', () => {
  const listing = readFileSync(new URL('./fixtures/nft-list.json', import.meta.url), 'utf8');

  it('parses chains, rule fingerprints, sets and maps of our table only', () => {
    const k = parseNftListing(listing);
    assert.equal(k.exists, true);
    assert.deepEqual([...k.chains.keys()].sort(), ['filter-forward', 'fw-cali1234', 'nat-postrouting']);
    assert.deepEqual(k.chains.get('filter-forward')!.base, { type: 'filter', hook: 'forward', priority: 0, policy: 'accept' });
    assert.deepEqual(k.chains.get('nat-postrouting')!.base, { type: 'nat', hook: 'postrouting', priority: 100, policy: 'accept' });
    const fw = k.chains.get('fw-cali1234')!;
    assert.equal(fw.rules.length, 13);
    assert.deepEqual(fw.rules[0], { handle: 82, hash: '58444e91422799b6', comment: 'mg:58444e91422799b6 anti-spoofing v4' });
    assert.equal(fw.rules.at(-1)!.hash, null, 'a rule someone else added');
    assert.equal(k.otherObjects, 1, 'the counter object');
    assert.deepEqual([...k.maps.get('from-wl')!.elements], [['cali1234', 'goto fw-cali1234']]);
    assert.equal(k.maps.get('from-wl')!.valueType, 'verdict');
  });

  it('keys a plain set of addresses as host CIDRs, as the desired state keeps them, and writes addresses', () => {
    const k = parseNftListing(
      JSON.stringify({
        nftables: [
          { table: { family: 'inet', name: 'margay' } },
          { set: { family: 'inet', table: 'margay', name: 'v4-s.p', type: 'ipv4_addr', elem: ['10.0.0.1', '10.0.0.9'] } },
        ],
      }),
    );
    assert.deepEqual([...k.sets.get('v4-s.p')!.elements], ['10.0.0.1/32', '10.0.0.9/32']);
    assert.equal(k.sets.get('v4-s.p')!.deleteTexts, undefined, 'no text of its own to keep');
    const d = new DesiredState();
    d.setSet({ name: 'v4-s.p', type: 'ipv4_addr', flags: [], elements: new Set(['10.0.0.1/32', '10.0.0.2/32']) });
    const tx = computeTransaction(k, d, 'all', T);
    assert.deepEqual(
      tx.lines.filter((l) => l.includes('element')),
      ['delete element inet margay v4-s.p { 10.0.0.9 }', 'add element inet margay v4-s.p { 10.0.0.2 }'],
    );
    // The view after the transaction is the desired state's own set, not a copy.
    applyToView(k, d, 'all', false);
    assert.equal(k.sets.get('v4-s.p')!.elements, d.sets.get('v4-s.p')!.elements);
    assert.deepEqual(computeTransaction(k, d, 'all', T).lines, []);
  });

  it('canonicalises set elements so they compare with desired ones', () => {
    const k = parseNftListing(listing);
    assert.deepEqual([...k.sets.get('v4-s.abc-_1')!.elements.keys()], ['10.244.0.0/24']);
    assert.deepEqual([...k.sets.get('v4p-n.xyz')!.elements.keys()], ['10.244.0.5 . 6 . 80']);
    assert.equal(k.sets.get('v4p-n.xyz')!.type, 'ipv4_addr . inet_proto . inet_service');
    assert.deepEqual([...k.sets.get('v6p-n.xyz')!.elements.keys()], ['fd00::1 . 17 . 53']);
    assert.deepEqual([...k.sets.get('v6-mapped')!.elements.keys()], ['::ffff:0:0/96', 'fd00::1/128']);
    // A range (never written by Margay) gets a key no desired element has, and a deletable text.
    const range = k.sets.get('v4-range')!;
    assert.deepEqual([...range.elements].map((e) => [e, deleteTextOf(range)(e)]), [
      ['range 10.1.0.1-10.1.0.9', '10.1.0.1-10.1.0.9'],
      ['10.2.0.0/16', '10.2.0.0/16'],
    ]);
    assert.deepEqual(canonicalElement({ elem: { val: '10.0.0.1', timeout: 5 } }, 'ipv4_addr'), { key: '10.0.0.1/32', text: '10.0.0.1/32' });
    assert.deepEqual(canonicalElement('FD00:0::1', 'ipv6_addr', false), { key: 'fd00::1/128', text: 'fd00::1' }, 'a plain set keys addresses as host CIDRs');
    assert.deepEqual(canonicalElement('tcp', 'inet_proto', false), { key: '6', text: '6' });
  });

  it('reads a missing table as empty', () => {
    const k = parseNftListing('{"nftables":[{"metainfo":{}}]}');
    assert.equal(k.exists, false);
  });

  it('round-trips fingerprints through comments', () => {
    const r = rule('accept', 'a "quoted"\ndescription');
    assert.equal(r.desc, 'a quoteddescription');
    assert.equal(hashFromComment(ruleComment(r)), r.hash);
    assert.equal(hashFromComment('mg:0123456789abcdef'), '0123456789abcdef');
    assert.equal(hashFromComment('mg:0123'), null);
    assert.equal(hashFromComment('hello'), null);
    assert.equal(hashFromComment(undefined), null);
  });
});
