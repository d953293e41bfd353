import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import fc from 'fast-check';
import type { CompiledRule, PortRange } from '../../src/calc/model.ts';
import { dispatchTier, guardKey, policyGuard, sequenceRules, type Guard } from '../../src/dataplane/nftables/render-dispatch.ts';
import { DEFAULT_MARKS, hex } from '../../src/dataplane/nftables/settings.ts';
import { rule, type ChainSpec } from '../../src/dataplane/nftables/state.ts';

function r(protocol: number | undefined, ports?: PortRange[], named = false): CompiledRule {
  const dst = { ...(ports ? { ports } : {}), ...(named ? { namedPortIpSets: ['n:x'] } : {}) };
  return { match: { ...(protocol !== undefined ? { protocol } : {}), src: {}, dst }, action: 'allow', origin: { policy: 'p', direction: 'ingress', index: 0 } };
}

const g = (entries: [number, [number, number][]][]): Guard => new Map(entries.map(([p, rs]) => [p, rs.map(([first, last]) => ({ first, last }))]));

/** The policy chains a packet (protocol, destination port) jumps to, read from the rendered chains. */
function walk(chains: ChainSpec[], proto: number, port: number): string[] {
  const byName = new Map(chains.map((c) => [c.name, c]));
  // A sequence chain's policies (jumps, then a goto to the last); a name that is not one of the
  // tier's chains is a policy's own chain (a single `any` policy as the fall-through).
  const jumps = (name: string) =>
    byName.has(name) ? byName.get(name)!.rules.flatMap((x) => /(?:jump|goto) (\S+)$/.exec(x.body)?.[1] ?? []) : [name];
  const run = (name: string, key: number): string[] => {
    for (const rule of byName.get(name)?.rules ?? []) {
      const one = /^meta l4proto (\d+) goto (\S+)$/.exec(rule.body);
      if (one) {
        if (key === Number(one[1])) return run(one[2] as string, port);
        continue;
      }
      const map = /^(?:meta l4proto|th dport) vmap \{ (.*) \}$/.exec(rule.body);
      if (map) {
        const level = rule.body.startsWith('meta') ? 'proto' : 'port';
        for (const item of (map[1] as string).split(', ')) {
          const m = /^(\d+)(?:-(\d+))? : goto (\S+)$/.exec(item);
          assert.ok(m, item);
          if (key >= Number(m[1]) && key <= Number(m[2] ?? m[1])) return level === 'proto' ? run(m[3] as string, port) : jumps(m[3] as string);
        }
        continue;
      }
      const go = /^goto (\S+)$/.exec(rule.body);
      if (go) return jumps(go[1] as string);
    }
    return [];
  };
  return run((chains[0] as ChainSpec).name, proto);
}

function covers(guard: Guard, proto: number, port: number): boolean {
  return guard === 'any' || (guard.get(proto) ?? []).some((x) => x.first <= port && port <= x.last);
}

const marks = { accept: DEFAULT_MARKS.accept, pass: DEFAULT_MARKS.pass };

describe('dataplane - dispatch by protocol and port', () => {
  it('guards a policy by the protocols and destination ports its rules name', () => {
    assert.equal(guardKey(policyGuard([r(6, [{ first: 80, last: 80 }]), r(17, [{ first: 53, last: 53 }])])), '6:80-80;17:53-53');
    assert.equal(guardKey(policyGuard([r(6)])), '6:0-65535', 'a protocol without ports: all its ports');
    assert.equal(guardKey(policyGuard([])), '', 'no rules: matches nothing');
    assert.equal(policyGuard([r(6, [{ first: 80, last: 80 }]), r(undefined)]), 'any');
    assert.equal(policyGuard([r(1)]), 'any', 'ICMP is not dispatched');
    assert.equal(policyGuard([r(6, [{ first: 80, last: 80 }], true)]), 'any', 'named ports are not dispatched');
  });

  it('shares the guard of equal one-rule policies (the compiler shares their frozen port lists), equal to one made apart', () => {
    const ports = Object.freeze([{ first: 53, last: 53 }]);
    const a = policyGuard([r(17, ports as PortRange[])]);
    assert.equal(policyGuard([r(17, ports as PortRange[])]), a, 'the same list and protocol: one guard');
    assert.equal(guardKey(a), '17:53-53');
    assert.notEqual(policyGuard([r(6, ports as PortRange[])]), a, 'another protocol: another guard');
    assert.equal(guardKey(policyGuard([r(6, ports as PortRange[])])), '6:53-53');
    assert.equal(policyGuard([r(6)]), policyGuard([r(6, [])]), 'no ports: all of them, shared');
    assert.equal(guardKey(policyGuard([r(6)])), '6:0-65535');
    // A list that may still change is not a key: its guard is made apart (and follows the list).
    const open = [{ first: 80, last: 80 }];
    const first = policyGuard([r(6, open)]);
    open.push({ first: 90, last: 95 });
    assert.notEqual(policyGuard([r(6, open)]), first);
    assert.equal(guardKey(policyGuard([r(6, open)])), '6:80-80,90-95');
    // Two rules: made apart, as before.
    assert.equal(guardKey(policyGuard([r(6, ports as PortRange[]), r(6, ports as PortRange[])])), '6:53-53,53-53');
  });

  it('makes the jump sequence of a tier as a fresh render would, sharing a policy\'s return rule between directions', () => {
    const expected = (policies: { key: string; chain: string }[], tier: string, m: { accept: number; pass: number }) =>
      policies.flatMap(({ key, chain }, i) => [
        rule(i === 0 ? `jump ${chain}` : `meta mark & ${hex(m.pass)} == 0x00000000 jump ${chain}`, `tier ${tier} ${key}`),
        rule(`meta mark & ${hex(m.accept)} == ${hex(m.accept)} return`, `tier ${tier} ${key} allowed`),
      ]);
    const keys = ['ns/a', 'ns/b', 'ns/c'];
    const ingress = keys.map((key) => ({ key, chain: `pi-${key}` }));
    const egress = [...keys].reverse().map((key) => ({ key, chain: `po-${key}` }));
    const first = sequenceRules(ingress, { tier: 'default', marks });
    assert.deepEqual(first, expected(ingress, 'default', marks));
    const other = sequenceRules(egress, { tier: 'default', marks });
    assert.deepEqual(other, expected(egress, 'default', marks));
    assert.equal(other[1], first[5], 'ns/c allowed: one rule for both directions');
    // Seen before, then under other mark bits and in another tier: as fresh.
    assert.deepEqual(sequenceRules(ingress, { tier: 'default', marks }), expected(ingress, 'default', marks));
    const moved = { accept: 0x100, pass: 0x200 };
    assert.deepEqual(sequenceRules(ingress, { tier: 'default', marks: moved }), expected(ingress, 'default', moved));
    assert.deepEqual(sequenceRules(ingress, { tier: 'default', marks }), expected(ingress, 'default', marks));
    // A whole chain: the last policy entered with goto, no return after it.
    const whole = expected(ingress, 'default', marks).slice(0, -1);
    whole[4] = rule('meta mark & 0x00020000 == 0x00000000 goto pi-ns/c', 'tier default ns/c');
    assert.deepEqual(sequenceRules(ingress, { tier: 'default', marks }, true), whole);
    assert.deepEqual(sequenceRules(ingress.slice(0, 1), { tier: 'default', marks }, true), [rule('goto pi-ns/a', 'tier default ns/a')]);
    assert.deepEqual(sequenceRules(ingress, { tier: 'security', marks }), expected(ingress, 'security', marks));
  });

  it('cuts the port space into classes, each with its policies in order', () => {
    const guards: Guard[] = ['any', g([[6, [[80, 80]]]]), g([[6, [[80, 90]]]]), g([[17, [[53, 53]]]]), 'any'];
    const policies = guards.map((guard, i) => ({ key: `p${i}`, chain: `pi-p${i}`, guard }));
    const chains = dispatchTier({ policies, base: 'twp_x.0', tier: 'default', marks });
    assert.ok(chains);
    assert.equal(chains[0]?.name, 'twp_x.0');
    assert.deepEqual(walk(chains, 6, 80), ['pi-p0', 'pi-p1', 'pi-p2', 'pi-p4']);
    assert.deepEqual(walk(chains, 6, 85), ['pi-p0', 'pi-p2', 'pi-p4']);
    assert.deepEqual(walk(chains, 17, 53), ['pi-p0', 'pi-p3', 'pi-p4']);
    assert.deepEqual(walk(chains, 6, 443), ['pi-p0', 'pi-p4']);
    assert.deepEqual(walk(chains, 1, 0), ['pi-p0', 'pi-p4']);
    // The second jump of a sequence runs only while pass is clear, and every jump returns on accept.
    const seq = chains.find((c) => c.name === 'twp_x.0.0')!;
    assert.deepEqual(
      seq.rules.map((x) => x.body),
      [
        'jump pi-p0',
        'meta mark & 0x00010000 == 0x00010000 return',
        'meta mark & 0x00020000 == 0x00000000 jump pi-p1',
        'meta mark & 0x00010000 == 0x00010000 return',
        'meta mark & 0x00020000 == 0x00000000 jump pi-p2',
        'meta mark & 0x00010000 == 0x00010000 return',
        'meta mark & 0x00020000 == 0x00000000 goto pi-p4',
      ],
      'the last policy is entered with goto: its return is the chain\'s',
    );
    const other = chains.find((c) => c.name === 'twp_x.0.o')!;
    assert.deepEqual(other.rules.map((x) => x.body), ['jump pi-p0', 'meta mark & 0x00010000 == 0x00010000 return', 'meta mark & 0x00020000 == 0x00000000 goto pi-p4']);
  });

  it('makes a single `any` policy the fall-through itself (no chain of its own)', () => {
    const guards: Guard[] = [g([[6, [[80, 80]]]]), g([[6, [[81, 81]]]]), g([[6, [[82, 82]]]]), 'any'];
    const policies = guards.map((guard, i) => ({ key: `p${i}`, chain: `pi-p${i}`, guard }));
    const chains = dispatchTier({ policies, base: 'twp_x.0', tier: 'default', marks })!;
    assert.equal(chains.find((c) => c.name === 'twp_x.0.o'), undefined);
    // One protocol: a comparison rather than a map.
    assert.deepEqual(chains.find((c) => c.name === 'twp_x.0')!.rules.map((x) => x.body), ['meta l4proto 6 goto twp_x.0.p6', 'goto pi-p3']);
    assert.equal(chains.find((c) => c.name === 'twp_x.0.p6')!.rules[1]?.body, 'goto pi-p3');
    assert.deepEqual(chains.find((c) => c.name === 'twp_x.0.0')!.rules.map((x) => x.body), ['jump pi-p0', 'meta mark & 0x00010000 == 0x00010000 return', 'meta mark & 0x00020000 == 0x00000000 goto pi-p3']);
    assert.deepEqual(walk(chains, 6, 443), ['pi-p3']);
    assert.deepEqual(walk(chains, 17, 80), ['pi-p3']);
    assert.deepEqual(walk(chains, 6, 81), ['pi-p1', 'pi-p3']);
  });

  it('stays a list of jumps for small tiers, all-`any` tiers and tiers whose classes would blow up', () => {
    const pol = (guards: Guard[]) => guards.map((guard, i) => ({ key: `p${i}`, chain: `pi-p${i}`, guard }));
    assert.equal(dispatchTier({ policies: pol([g([[6, [[80, 80]]]]), 'any']), base: 'b', tier: 't', marks }), undefined);
    assert.equal(dispatchTier({ policies: pol(['any', 'any', 'any', 'any']), base: 'b', tier: 't', marks }), undefined);
    // 40 `any` policies between 40 port classes: 1,600 jumps instead of 80.
    const mixed = Array.from({ length: 80 }, (_, i) => (i % 2 ? 'any' : g([[6, [[1000 + i, 1000 + i]]]])));
    assert.equal(dispatchTier({ policies: pol(mixed), base: 'b', tier: 't', marks }), undefined);
  });

  it('property: a packet jumps to exactly the policies whose guard covers it, in order', () => {
    const range = fc.tuple(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 8 })).map(([a, n]) => [a, a + n] as [number, number]);
    const guard: fc.Arbitrary<Guard> = fc.oneof(
      { weight: 1, arbitrary: fc.constant('any' as const) },
      { weight: 4, arbitrary: fc.array(fc.tuple(fc.constantFrom(6, 17, 132), fc.array(range, { minLength: 1, maxLength: 3 })), { maxLength: 2 }).map(g) },
    );
    fc.assert(
      fc.property(fc.array(guard, { minLength: 4, maxLength: 12 }), fc.constantFrom(1, 6, 17, 132), fc.integer({ min: 0, max: 60 }), (guards, proto, port) => {
        const policies = guards.map((gd, i) => ({ key: `p${i}`, chain: `pi-p${i}`, guard: gd }));
        const chains = dispatchTier({ policies, base: 'b', tier: 't', marks });
        fc.pre(chains !== undefined);
        const expected = policies.filter((p) => covers(p.guard, proto, port)).map((p) => p.chain);
        assert.deepEqual(walk(chains!, proto, port), expected);
      }),
      { numRuns: 500 },
    );
  });
});
