/** The public entry exports what the README promises, and it behaves. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as margay from '../src/mod.ts';

test('library entry - selectors', () => {
  const sel = margay.parseSelector("app == 'web' && has(tier)");
  assert.equal(sel.matches({ app: 'web', tier: 'x' }), true);
  assert.equal(sel.matches({ app: 'web' }), false);
  assert.equal(sel.toString(), '(app == "web" && has(tier))');
  assert.match(sel.id, /^s:[A-Za-z0-9_-]+$/);
  assert.throws(() => margay.parseSelector('app == '), (err: unknown) => err instanceof margay.SelectorParseError && typeof err.position === 'number');
});

test('library entry - validation, decoding and conversion', () => {
  const pool = margay.validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '10.0.0.0/16' } });
  assert.equal((pool.spec as { blockSize: number }).blockSize, 26);
  assert.throws(
    () => margay.validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '10.0.0.0/16', bogus: 1 } }),
    (err: unknown) => err instanceof margay.ResourceValidationError && err.issues[0]?.path === 'spec' && /bogus/.test(err.message),
  );
  const decoded = margay.decodeResources('apiVersion: v1\nkind: Namespace\nmetadata:\n  name: shop\n', 'ns.yaml');
  assert.equal(decoded[0]?.resource.kind, 'Profile');
  assert.equal(decoded[0]?.resource.metadata.name, 'kns.shop');
  assert.ok(margay.findKind('ipp'));
});

test('library entry - datastore factory', async () => {
  const ds = margay.createDatastore({ type: 'memory' });
  const store = new margay.ResourceStore(ds);
  const res = await store.apply(margay.validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'Tier', metadata: { name: 't' }, spec: { order: 5 } }));
  assert.equal(res.outcome, 'created');
  assert.equal((await ds.get(margay.resourceKey('tiers', 't')))?.key, '/calico/resources/v3/projectcalico.org/tiers/t');
  await ds.close();
});
