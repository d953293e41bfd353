// Rule compilation: every Calico rule field, namespaced selector rewriting and named ports.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Rule } from '../../src/api/kinds/rule.ts';
import { makeUniqueId, namedPortSetId } from '../../src/calc/ids.ts';
import { compileRule, type RuleContext } from '../../src/calc/rule-compiler.ts';
import {
  entityRuleSelectorText,
  globalPolicySelectorText,
  namespaceSelectorText,
  networkPolicySelectorText,
  serviceAccountSelectorText,
} from '../../src/calc/selector-rewrite.ts';
import { parseSelector } from '../../src/selector/mod.ts';

const ctx = (over: Partial<RuleContext> = {}): RuleContext => ({
  policy: 'gnp/p',
  direction: 'ingress',
  index: 0,
  namespace: undefined,
  logPrefix: 'calico-packet',
  ...over,
});

const id = (text: string): string => parseSelector(text).id;
const canon = (text: string): string => (text === '' ? '' : parseSelector(text).toString());

describe('rule compiler - match fields', () => {
  const cases: Array<{ name: string; rule: Rule; match: Record<string, unknown> }> = [
    { name: 'empty rule matches everything', rule: { action: 'Allow' }, match: { src: {}, dst: {} } },
    { name: 'ipVersion', rule: { action: 'Allow', ipVersion: 6 }, match: { ipVersion: 6, src: {}, dst: {} } },
    { name: 'protocol by name', rule: { action: 'Allow', protocol: 'TCP' }, match: { protocol: 6, src: {}, dst: {} } },
    { name: 'protocol UDPLite', rule: { action: 'Allow', protocol: 'UDPLite' }, match: { protocol: 136, src: {}, dst: {} } },
    { name: 'protocol by number', rule: { action: 'Allow', protocol: 47 }, match: { protocol: 47, src: {}, dst: {} } },
    { name: 'notProtocol', rule: { action: 'Allow', notProtocol: 'UDP' }, match: { notProtocol: 17, src: {}, dst: {} } },
    { name: 'icmp type', rule: { action: 'Allow', protocol: 'ICMP', icmp: { type: 8 } }, match: { protocol: 1, icmp: { type: 8 }, src: {}, dst: {} } },
    {
      name: 'icmpv6 type and code',
      rule: { action: 'Allow', protocol: 'ICMPv6', icmp: { type: 128, code: 0 } },
      match: { protocol: 58, icmp: { type: 128, code: 0 }, src: {}, dst: {} },
    },
    { name: 'notICMP', rule: { action: 'Allow', protocol: 'ICMP', notICMP: { type: 3, code: 1 } }, match: { protocol: 1, notIcmp: { type: 3, code: 1 }, src: {}, dst: {} } },
    {
      name: 'nets and notNets are normalised',
      rule: { action: 'Allow', source: { nets: ['10.0.0.0/8', 'fd00::/64'], notNets: ['10.1.0.0/16'] }, destination: { nets: ['192.168.1.1/32'] } },
      match: { src: { nets: ['10.0.0.0/8', 'fd00::/64'], notNets: ['10.1.0.0/16'] }, dst: { nets: ['192.168.1.1/32'] } },
    },
    {
      name: 'ports and ranges, both sides',
      rule: { action: 'Allow', protocol: 'TCP', source: { ports: [1024, '2000:3000'] }, destination: { ports: [80, 443], notPorts: ['8000:8080'] } },
      match: {
        protocol: 6,
        src: { ports: [{ first: 1024, last: 1024 }, { first: 2000, last: 3000 }] },
        dst: { ports: [{ first: 80, last: 80 }, { first: 443, last: 443 }], notPorts: [{ first: 8000, last: 8080 }] },
      },
    },
  ];
  for (const c of cases) {
    it(c.name, () => {
      const { rule, ipSets } = compileRule(c.rule, ctx());
      assert.deepEqual(rule.match, c.match);
      assert.deepEqual(ipSets, []);
    });
  }

  it('actions map to the model', () => {
    assert.equal(compileRule({ action: 'Allow' }, ctx()).rule.action, 'allow');
    assert.equal(compileRule({ action: 'Deny' }, ctx()).rule.action, 'deny');
    assert.equal(compileRule({ action: 'Pass' }, ctx()).rule.action, 'pass');
    assert.equal(compileRule({ action: 'Log' }, ctx()).rule.action, 'log');
  });

  it('Log rules get a prefix naming the policy and rule', () => {
    const { rule } = compileRule({ action: 'Log' }, ctx({ policy: 'np/ns/p1', direction: 'egress', index: 3, logPrefix: 'margay' }));
    assert.equal(rule.logPrefix, 'margay np/ns/p1 egress 3');
    assert.equal(compileRule({ action: 'Allow' }, ctx()).rule.logPrefix, undefined);
  });

  it('records the rule origin', () => {
    const { rule } = compileRule({ action: 'Deny' }, ctx({ policy: 'pro/kns.a', direction: 'egress', index: 7 }));
    assert.deepEqual(rule.origin, { policy: 'pro/kns.a', direction: 'egress', index: 7 });
  });

  it('http matches are flagged as not enforced, the rest still compiles', () => {
    const { rule } = compileRule({ action: 'Allow', protocol: 'TCP', http: { methods: ['GET'] } }, ctx());
    assert.equal(rule.httpNotEnforced, true);
    assert.equal(rule.match.protocol, 6);
    assert.equal(compileRule({ action: 'Allow' }, ctx()).rule.httpNotEnforced, undefined);
  });
});

describe('rule compiler - selectors', () => {
  it('a selector becomes a net IP set with the selector id', () => {
    const { rule, ipSets } = compileRule({ action: 'Allow', source: { selector: "app == 'web'" } }, ctx());
    assert.deepEqual(rule.match.src, { ipSets: [id('app == "web"')] });
    assert.equal(ipSets.length, 1);
    assert.equal(ipSets[0]!.kind, 'net');
    assert.equal(ipSets[0]!.selector.toString(), 'app == "web"');
  });

  it('selector and notSelector fold into one set', () => {
    const { rule, ipSets } = compileRule({ action: 'Allow', destination: { selector: "app == 'web'", notSelector: "env == 'dev'" } }, ctx());
    const expected = id(`(app == 'web') && (!(env == 'dev'))`);
    assert.deepEqual(rule.match.dst, { ipSets: [expected] });
    assert.deepEqual(ipSets.map((s) => s.id), [expected]);
  });

  it('a lone notSelector is a notIpSets entry (global policy: not namespaced)', () => {
    const { rule } = compileRule({ action: 'Allow', source: { notSelector: "env == 'dev'" } }, ctx());
    assert.deepEqual(rule.match.src, { notIpSets: [id('env == "dev"')] });
  });

  it('namespaced policy: selector limited to its namespace', () => {
    const { rule } = compileRule({ action: 'Allow', source: { selector: "app == 'web'" } }, ctx({ namespace: 'prod' }));
    assert.deepEqual(rule.match.src.ipSets, [id(`(projectcalico.org/namespace == 'prod') && (app == 'web')`)]);
  });

  it('namespaced policy: a lone notSelector still limits to the namespace', () => {
    const { rule } = compileRule({ action: 'Allow', source: { notSelector: "app == 'web'" } }, ctx({ namespace: 'prod' }));
    assert.deepEqual(rule.match.src, { ipSets: [id(`(projectcalico.org/namespace == 'prod') && (!(app == 'web'))`)] });
  });

  it('namespaced policy: nets only is not namespaced', () => {
    const { rule, ipSets } = compileRule({ action: 'Allow', source: { nets: ['10.0.0.0/8'] } }, ctx({ namespace: 'prod' }));
    assert.deepEqual(rule.match.src, { nets: ['10.0.0.0/8'] });
    assert.deepEqual(ipSets, []);
  });

  it('nets written the same way again compile the same (canonical texts remembered), invalid ones dropped', () => {
    const rule = { action: 'Allow' as const, source: { nets: ['10.1.2.3/16', 'not-a-net', 'FD00::1/64', '10.1.2.3/16'] } };
    for (let i = 0; i < 3; i++) {
      assert.deepEqual(compileRule(rule, ctx()).rule.match.src, { nets: ['10.1.0.0/16', 'fd00::/64', '10.1.0.0/16'] });
    }
  });

  it('namespaceSelector replaces the namespace restriction, with pcns. labels', () => {
    const { rule } = compileRule({ action: 'Allow', source: { selector: "app == 'web'", namespaceSelector: "team == 'a'" } }, ctx({ namespace: 'prod' }));
    assert.deepEqual(rule.match.src.ipSets, [id(`(pcns.team == "a") && (app == 'web')`)]);
  });

  it('namespaceSelector all() means any namespaced endpoint; global() means none', () => {
    assert.deepEqual(compileRule({ action: 'Allow', source: { namespaceSelector: 'all()' } }, ctx({ namespace: 'prod' })).rule.match.src.ipSets, [
      id('has(projectcalico.org/namespace)'),
    ]);
    assert.deepEqual(compileRule({ action: 'Allow', source: { namespaceSelector: 'global()' } }, ctx()).rule.match.src.ipSets, [
      id('!has(projectcalico.org/namespace)'),
    ]);
  });

  it('serviceAccounts names and selector', () => {
    const { rule } = compileRule({ action: 'Allow', source: { serviceAccounts: { names: ['sa-b', 'sa-a'], selector: "role == 'db'" } } }, ctx({ namespace: 'prod' }));
    assert.deepEqual(rule.match.src.ipSets, [
      id(`(projectcalico.org/namespace == 'prod') && ((pcsa.role == 'db') && (projectcalico.org/serviceaccount in {'sa-a', 'sa-b'}))`),
    ]);
  });

  it('services make an empty service set: the rule side matches nothing here', () => {
    const { rule, ipSets } = compileRule({ action: 'Allow', source: { services: { name: 'web', namespace: 'prod' } } }, ctx());
    const expected = makeUniqueId('svcnoport', 'prod/web');
    assert.deepEqual(rule.match.src.ipSets, [expected]);
    assert.equal(ipSets[0]!.service, 'prod/web');
  });
});

describe('rule compiler - named ports', () => {
  it('a named port with no selector is filtered by all()', () => {
    const { rule, ipSets } = compileRule({ action: 'Allow', protocol: 'TCP', destination: { ports: ['http'] } }, ctx());
    const setId = namedPortSetId(id('all()'), 'tcp', 'http');
    assert.deepEqual(rule.match.dst, { namedPortIpSets: [setId] });
    assert.deepEqual(ipSets.map((s) => [s.id, s.kind, s.namedPort]), [[setId, 'ip-port', { name: 'http', protocol: 'tcp' }]]);
  });

  it('named-port set ids follow Felix: n: + hash of "<selector id>,<proto>,<name>"', () => {
    assert.equal(namedPortSetId('s:abc', 'udp', 'dns'), makeUniqueId('n', 's:abc,udp,dns'));
    assert.match(namedPortSetId('s:abc', 'udp', 'dns'), /^n:[A-Za-z0-9_-]{38}$/);
  });

  it('named ports only: the selector set is left out (the named-port set is filtered by it)', () => {
    const { rule, ipSets } = compileRule({ action: 'Allow', protocol: 'UDP', destination: { selector: "app == 'dns'", ports: ['dns'] } }, ctx({ namespace: 'kube' }));
    const sel = id(`(projectcalico.org/namespace == 'kube') && (app == 'dns')`);
    assert.deepEqual(rule.match.dst, { namedPortIpSets: [namedPortSetId(sel, 'udp', 'dns')] });
    assert.equal(ipSets.length, 1);
  });

  it('named and numeric ports: selector set plus named-port set', () => {
    const { rule } = compileRule({ action: 'Allow', protocol: 'SCTP', destination: { selector: "app == 'x'", ports: [9000, 'metrics'] } }, ctx());
    assert.deepEqual(rule.match.dst, {
      ipSets: [id('app == "x"')],
      ports: [{ first: 9000, last: 9000 }],
      namedPortIpSets: [namedPortSetId(id('app == "x"'), 'sctp', 'metrics')],
    });
  });

  it('negated named ports use the positive selector', () => {
    const { rule } = compileRule({ action: 'Deny', protocol: 'TCP', source: { selector: "a == 'b'", notPorts: ['admin'] } }, ctx());
    assert.deepEqual(rule.match.src, { ipSets: [id('a == "b"')], notNamedPortIpSets: [namedPortSetId(id('a == "b"'), 'tcp', 'admin')] });
  });

  it('the protocol defaults to TCP for named ports', () => {
    const { ipSets } = compileRule({ action: 'Allow', destination: { ports: ['web'] } }, ctx());
    assert.equal(ipSets[0]!.namedPort?.protocol, 'tcp');
  });
});

describe('selector rewriting', () => {
  it('namespaceSelector prefixes every label and maps all()/global()', () => {
    assert.equal(canon(namespaceSelectorText("env in {'a','b'} && has(team) && !has(x)")), canon('pcns.env in {"a","b"} && has(pcns.team) && !has(pcns.x)'));
    assert.equal(canon(namespaceSelectorText('all()')), 'has(projectcalico.org/namespace)');
    assert.equal(canon(namespaceSelectorText('global()')), '!has(projectcalico.org/namespace)');
  });

  it('serviceAccounts: names only, selector only, both, neither', () => {
    assert.equal(canon(serviceAccountSelectorText({ names: ['b', 'a'] })), 'projectcalico.org/serviceaccount in {"a", "b"}');
    assert.equal(canon(serviceAccountSelectorText({ selector: "k == 'v'" })), 'pcsa.k == "v"');
    assert.equal(canon(serviceAccountSelectorText({ selector: "k == 'v'", names: ['a'] })), '(pcsa.k == "v" && projectcalico.org/serviceaccount in {"a"})');
    assert.equal(serviceAccountSelectorText({}), '');
  });

  it('entity rule in a namespaced policy', () => {
    assert.equal(canon(entityRuleSelectorText({ selector: "app == 'web'" }, 'prod')), '(projectcalico.org/namespace == "prod" && app == "web")');
    assert.equal(entityRuleSelectorText({ nets: ['10.0.0.0/8'] }, 'prod'), '');
    assert.equal(canon(entityRuleSelectorText({ namespaceSelector: "env == 'x'" }, 'prod')), 'pcns.env == "x"');
  });

  it('entity rule in a global policy is not namespaced', () => {
    assert.equal(canon(entityRuleSelectorText({ selector: "app == 'web'" }, undefined)), 'app == "web"');
  });

  it("a NetworkPolicy applies within its namespace, plus its serviceAccountSelector's pcsa. labels", () => {
    assert.equal(canon(networkPolicySelectorText('prod', undefined, undefined)), 'projectcalico.org/namespace == "prod"');
    assert.equal(
      canon(networkPolicySelectorText('prod', "app == 'web'", "role == 'x'")),
      '((app == "web" && projectcalico.org/namespace == "prod") && pcsa.role == "x")',
    );
  });

  it("a GlobalNetworkPolicy's namespaceSelector and serviceAccountSelector are ANDed in", () => {
    assert.equal(canon(globalPolicySelectorText("app == 'x'", "env == 'prod'", undefined)), '(app == "x" && pcns.env == "prod")');
    assert.equal(canon(globalPolicySelectorText(undefined, 'all()', undefined)), 'has(projectcalico.org/namespace)');
    assert.equal(canon(globalPolicySelectorText(undefined, undefined, 'all()')), 'has(projectcalico.org/serviceaccount)');
    assert.equal(globalPolicySelectorText(undefined, undefined, undefined), '');
  });
});

describe('rule compiler - shared compiled parts', () => {
  it('gives the rules with the same port-only side one frozen match, and each rule its sets', () => {
    // Two policies' rules, each its own object (as parsed from the datastore).
    const rule = (): Rule => ({ action: 'Allow', protocol: 'TCP', destination: { ports: [80, '8000:8100', 'http'] } });
    const a = compileRule(rule(), ctx({ policy: 'np/ns-a/a', namespace: 'ns-a' }));
    const b = compileRule(rule(), ctx({ policy: 'np/ns-b/b', namespace: 'ns-b', index: 3 }));
    assert.equal(a.rule.match.dst, b.rule.match.dst);
    assert.ok(Object.isFrozen(a.rule.match.dst) && Object.isFrozen(a.rule.match.dst.ports) && Object.isFrozen(a.rule.match.dst.namedPortIpSets));
    const npId = namedPortSetId(parseSelector('all()').id, 'tcp', 'http');
    assert.deepEqual(a.rule.match.dst, { ports: [{ first: 80, last: 80 }, { first: 8000, last: 8100 }], namedPortIpSets: [npId] });
    assert.deepEqual(a.ipSets.map((s) => s.id), [npId]);
    assert.deepEqual(b.ipSets.map((s) => s.id), [npId]);
    // Another protocol is another named-port set; a selector makes the side the policy's own.
    const udp = compileRule({ ...rule(), protocol: 'UDP' }, ctx());
    assert.notEqual(udp.rule.match.dst, a.rule.match.dst);
    assert.deepEqual(udp.ipSets.map((s) => s.id), [namedPortSetId(parseSelector('all()').id, 'udp', 'http')]);
    const withSel = compileRule({ action: 'Allow', protocol: 'TCP', destination: { selector: 'app == "x"', ports: [80] } }, ctx({ namespace: 'ns-a' }));
    const withSel2 = compileRule({ action: 'Allow', protocol: 'TCP', destination: { selector: 'app == "x"', ports: [80] } }, ctx({ namespace: 'ns-b' }));
    assert.notDeepEqual(withSel.rule.match.dst, withSel2.rule.match.dst);
  });
});

describe('rule compiler - remembered port lists', () => {
  it('does not give an invalid port with a comma the split of the ports it spells', () => {
    const dst = (ports: Rule['destination']): Rule => ({ action: 'Allow', protocol: 'TCP', destination: ports });
    // Invalid first (skipped: the side has no port), then the valid list the same text spells, and again.
    const bad = compileRule(dst({ ports: ['80,81'] as never }), ctx());
    const good = compileRule(dst({ ports: [80, 81] }), ctx());
    const bad2 = compileRule(dst({ ports: ['80,81'] as never }), ctx());
    assert.equal(bad.rule.match.dst.ports, undefined);
    assert.deepEqual(good.rule.match.dst.ports, [{ first: 80, last: 80 }, { first: 81, last: 81 }]);
    assert.equal(bad2.rule.match.dst.ports, undefined);
  });
});
