// The render context the table hands each owner (nftables/recording-context.ts): what a render
// refers to is recorded in that owner's record only, a record's sets are made on first use (an
// empty record holds no sets of its own), and the table's reference book counts as it did.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ipSetName, policyChain } from '../../src/dataplane/nftables/names.ts';
import { emptyRefs } from '../../src/dataplane/nftables/recording-context.ts';
import { DEFAULT_MARKS } from '../../src/dataplane/nftables/settings.ts';
import { NftTable } from '../../src/dataplane/nftables/table.ts';

describe('dataplane - the render context records one owner\'s references', () => {
  it('records chains and IP sets per owner, answers from the table, and starts empty', () => {
    const warnings: string[] = [];
    const table = new NftTable(DEFAULT_MARKS, (m) => warnings.push(m));
    table.ipSetShapes.set('s:a', { kind: 'net', families: new Map([[4, false]]) });
    table.policyGuards.set('ns/p', { ingress: 'any', egress: new Map([[17, [{ first: 53, last: 53 }]]]) });
    const a = table.emptyRefs();
    const b = table.emptyRefs();
    assert.equal(a.chains.size + a.ipSetIds.size, 0);
    const ctx = table.context(a);
    assert.equal(ctx.families, table.families());
    assert.equal(ctx.marks, DEFAULT_MARKS);
    assert.equal(ctx.policyChain('ingress', 'ns/p'), policyChain('ingress', 'ns/p'));
    assert.equal(ctx.policyChain('egress', 'ns/q'), policyChain('egress', 'ns/q'));
    assert.equal(ctx.setName('net', 4, 's:a'), ipSetName('net', 4, 's:a', false));
    assert.equal(ctx.setName('net', 6, 's:a'), undefined, 'no members in that family: no set');
    assert.equal(ctx.setName('ip-port', 4, 's:b'), undefined, 'unknown set: none, but recorded');
    assert.equal(ctx.policyGuard?.('egress', 'ns/p'), table.policyGuards.get('ns/p')?.egress);
    assert.equal(ctx.policyGuard?.('ingress', 'ns/none'), 'any');
    ctx.warn?.('hello');
    assert.deepEqual(warnings, ['hello']);
    assert.deepEqual([...a.chains], [policyChain('ingress', 'ns/p'), policyChain('egress', 'ns/q')]);
    assert.deepEqual([...a.ipSetIds], ['s:a', 's:b']);
    // Another owner's record, and a fresh one, hold none of it (the empty record is never added to).
    table.context(b).setName('net', 4, 's:c');
    assert.deepEqual([...b.ipSetIds], ['s:c']);
    assert.equal(b.chains.size, 0);
    const fresh = emptyRefs();
    assert.equal(fresh.chains.size + fresh.ipSetIds.size, 0);
  });

  it('counts references in the book as owners are recorded, replaced and emptied', () => {
    const table = new NftTable(DEFAULT_MARKS);
    const render = (owner: string, keys: string[]): void => {
      const refs = table.emptyRefs();
      const ctx = table.context(refs);
      for (const key of keys) ctx.policyChain('ingress', key);
      table.setOwnerRefs(owner, refs);
    };
    render('list:x', ['ns/p', 'ns/q']);
    render('list:y', ['ns/q']);
    table.ipSetShapes.clear();
    const users = (id: string): string[] => [...table.ipSetUsers(id)];
    const refs = table.emptyRefs();
    table.context(refs).setName('net', 4, 's:a');
    table.setOwnerRefs('policy:ns/p', refs);
    assert.deepEqual(users('s:a'), ['policy:ns/p']);
    table.setOwnerRefs('policy:ns/p', table.emptyRefs());
    assert.deepEqual(users('s:a'), []);
    // ns/p loses its last user: a chain still defined by nobody becomes no placeholder.
    render('list:x', []);
    table.resolvePlaceholders();
    assert.equal(table.desired.chains.has(policyChain('ingress', 'ns/p')), false);
    assert.equal(table.desired.chains.has(policyChain('ingress', 'ns/q')), true, 'still referred to by list:y: an empty placeholder');
  });
});
