/**
 * Incremental equals fresh: after any sequence of changes (workloads moving between policy lists
 * and interfaces, policies whose guards change, settings), the manager's desired table equals the
 * one a fresh manager renders from the final state, and the transactions it produced on the way
 * turn an empty kernel into exactly that table (so no dirty name was missed).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { DataplaneUpdate } from '../../src/calc/model.ts';
import { applyToView, computeTransaction } from '../../src/dataplane/nftables/diff.ts';
import { emptyKernelTable } from '../../src/dataplane/nftables/kernel.ts';
import { NftablesManager } from '../../src/dataplane/nftables/manager.ts';
import type { DesiredState } from '../../src/dataplane/nftables/state.ts';
import { deepFreeze } from '../calc/helpers.ts';
import { policy, settings, tier, workload, type RuleSpec } from './updates.ts';

const TABLE = { family: 'inet', name: 'margay' };
const POLICIES = Array.from({ length: 8 }, (_, i) => `gnp/p${i}`);

const ruleSpec: fc.Arbitrary<RuleSpec> = fc
  .record({
    action: fc.constantFrom('allow', 'deny', 'pass', 'log'),
    protocol: fc.constantFrom(undefined, 6, 17, 1),
    ports: fc.array(fc.integer({ min: 1, max: 12 }), { maxLength: 2 }),
  })
  .map(({ action, protocol, ports }) => ({
    action,
    ...(protocol !== undefined ? { protocol } : {}),
    ...(ports.length > 0 && (protocol === 6 || protocol === 17) ? { dst: { ports: ports.map((p) => ({ first: p * 10, last: p * 10 + (p % 3) })) } } : {}),
  }));

const policyUpdate = fc
  .record({ key: fc.constantFrom(...POLICIES), ingress: fc.array(ruleSpec, { maxLength: 3 }), egress: fc.array(ruleSpec, { maxLength: 3 }) })
  .map(({ key, ingress, egress }) => policy(key, { tier: 'default', ingress, egress }));

const policyList = fc.uniqueArray(fc.constantFrom(...POLICIES), { maxLength: 6 });

const workloadUpdate = fc
  .record({
    i: fc.integer({ min: 0, max: 5 }),
    alt: fc.boolean(),
    ip: fc.integer({ min: 1, max: 3 }),
    ingress: policyList,
    egress: policyList,
    second: policyList,
    profiles: fc.uniqueArray(fc.constantFrom('pro/a', 'pro/b'), { maxLength: 2 }),
    pass: fc.boolean(),
  })
  .map(({ i, alt, ip, ingress, egress, second, profiles, pass }) =>
    workload(`ns/w${i}`, `cali${i}${alt ? 'b' : 'a'}`, [`10.0.${i}.${ip}/32`], {
      tiers: [tier('first', { ingress: second, defaultAction: pass ? 'Pass' : 'Deny' }), tier('default', { ingress, egress })].filter(
        (t) => t.ingress.length + t.egress.length > 0,
      ),
      profiles,
    }),
  );

const op: fc.Arbitrary<DataplaneUpdate> = fc.oneof(
  { weight: 4, arbitrary: workloadUpdate },
  { weight: 1, arbitrary: fc.integer({ min: 0, max: 5 }).map((i): DataplaneUpdate => ({ type: 'workload-remove', key: `ns/w${i}` })) },
  { weight: 3, arbitrary: policyUpdate },
  { weight: 1, arbitrary: fc.constantFrom(...POLICIES).map((key): DataplaneUpdate => ({ type: 'policy-remove', key })) },
  { weight: 1, arbitrary: fc.boolean().map((v6) => settings({ ipv6Enabled: v6 })) },
);

/** The final state of a sequence, as the updates a fresh start would get. */
function finalState(batches: DataplaneUpdate[][]): DataplaneUpdate[] {
  let last = settings();
  const objects = new Map<string, DataplaneUpdate>();
  for (const u of batches.flat()) {
    if (u.type === 'settings') last = u;
    else if (u.type === 'policy-update') objects.set(`p:${u.policy.key}`, u);
    else if (u.type === 'policy-remove') objects.delete(`p:${u.key}`);
    else if (u.type === 'workload-update') objects.set(`w:${u.endpoint.key}`, u);
    else if (u.type === 'workload-remove') objects.delete(`w:${u.key}`);
  }
  return [last, ...objects.values()];
}

function snapshot(d: DesiredState): Record<string, unknown> {
  const chains = Object.fromEntries([...d.chains].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, c]) => [n, c.rules.map((r) => r.body)]));
  const sets = Object.fromEntries([...d.sets].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, s]) => [n, [...s.elements].sort()]));
  const maps = Object.fromEntries([...d.maps].sort(([a], [b]) => (a < b ? -1 : 1)).map(([n, m]) => [n, [...m.elements].sort()]));
  return { chains, sets, maps };
}

describe('dataplane - incremental equals fresh', () => {
  it('property: shared policy-list chains, dispatch chains, maps and sets after random change sequences', () => {
    fc.assert(
      fc.property(fc.array(fc.array(op, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 12 }), (batches) => {
        const m = new NftablesManager();
        const view = emptyKernelTable();
        m.onUpdate(settings());
        for (const batch of [[], ...batches]) {
          // Frozen: the dataplane keeps the graph's objects and never changes them (the graph's
          // event sequencer compares its next object for a key with the one it sent).
          for (const u of batch) m.onUpdate(deepFreeze(u));
          const dirty = m.flush();
          const tx = computeTransaction(view, m.desired, dirty, TABLE);
          applyToView(view, m.desired, dirty, tx.rebuild);
        }
        const fresh = new NftablesManager();
        for (const u of finalState(batches)) fresh.onUpdate(u);
        fresh.flush();
        assert.deepEqual(snapshot(m.desired), snapshot(fresh.desired));
        assert.deepEqual(computeTransaction(view, fresh.desired, 'all', TABLE).lines, [], 'the incremental transactions built the fresh table');
      }),
      { numRuns: 300 },
    );
  });

  it('re-renders the dispatch of the lists that use a policy when its guard changes, and only those', () => {
    const m = new NftablesManager();
    const four = POLICIES.slice(0, 4);
    const port = (p: number) => ({ action: 'allow' as const, protocol: 6, dst: { ports: [{ first: p, last: p }] } });
    m.onUpdate(settings());
    four.forEach((key, i) => m.onUpdate(policy(key, { tier: 'default', ingress: [port(80 + i)] })));
    m.onUpdate(workload('ns/a', 'cali1', ['10.0.0.1/32'], { tiers: [tier('default', { ingress: four })] }));
    m.onUpdate(workload('ns/b', 'cali2', ['10.0.0.2/32'], { tiers: [tier('default', { ingress: POLICIES.slice(4) })] }));
    m.flush();
    const to = m.desired.maps.get('to-wl')!.elements.get('cali1')!.slice('goto '.length);
    const dispatch = () => m.desired.chains.get(`${to}.0.p6`)!.rules.map((r) => r.body);
    assert.match(dispatch()[0]!, /^th dport vmap \{ 80 : goto /);
    const d = m.flush();
    assert.equal(d.chains.size, 0);
    // A rule body change that keeps the guard: only the policy's chain.
    m.onUpdate(policy('gnp/p0', { tier: 'default', ingress: [{ ...port(80), action: 'deny' }] }));
    assert.deepEqual([...m.flush().chains], ['pi-gnp/p0']);
    // A guard change: the dispatch of the list that uses it too, not the other list.
    m.onUpdate(policy('gnp/p0', { tier: 'default', ingress: [port(8080)] }));
    const changed = [...m.flush().chains].sort();
    assert.ok(changed.includes('pi-gnp/p0') && changed.some((c) => c.startsWith(`${to}.`)), changed.join(' '));
    assert.ok(changed.every((c) => c === 'pi-gnp/p0' || c.startsWith(to)), changed.join(' '));
    assert.match(dispatch()[0]!, /8080 : goto/);
  });
});
