/**
 * Kubernetes NetworkPolicy / Namespace / Pod conversion, ported from libcalico-go's
 * k8s/conversion/conversion_test.go. Objects go through convertKubernetesResource, so every
 * result has also passed Margay's projectcalico.org/v3 validation.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readFileSync, existsSync } from 'node:fs';
import { decodeResources } from '../../src/api/decode.ts';
import {
  convertKubernetesResource,
  isKubernetesKind,
  k8sSelectorToCalico,
  simplifyPorts,
  vethNameForPod,
} from '../../src/api/k8s/mod.ts';
import type { Resource } from '../../src/api/resource.ts';
import { ResourceValidationError } from '../../src/api/validate.ts';

type Obj = Record<string, unknown>;
type Rule = { action: string; protocol?: string; source?: Obj; destination?: Obj };

function np(spec: Obj, name = 'test.policy', namespace = 'default'): Resource {
  return convertKubernetesResource({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name, namespace }, spec });
}
const specOf = (r: Resource) => r.spec as Obj;
const ingress = (r: Resource) => (specOf(r).ingress ?? []) as Rule[];
const egress = (r: Resource) => (specOf(r).egress ?? []) as Rule[];

function rejects(fn: () => unknown, path: string, message?: RegExp) {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ResourceValidationError, String(err));
    assert.equal(err.code, 'MARGAY_ERR_VALIDATION');
    assert.ok(err.issues.some((i) => i.path === path && (!message || message.test(i.message))), `expected ${path}, got ${JSON.stringify(err.issues)}`);
    return true;
  });
}

const K8S = "projectcalico.org/orchestrator == 'k8s'";

describe('selector conversion table', () => {
  const cases: [string, Obj | null, 'pod' | 'namespace', string][] = [
    ['should handle an empty pod selector', {}, 'pod', K8S],
    ['should handle an empty namespace selector', {}, 'namespace', 'all()'],
    ['should handle an OpDoesNotExist namespace selector', { matchExpressions: [{ key: 'toast', operator: 'DoesNotExist' }] }, 'namespace', '! has(toast)'],
    ['should handle an OpExists namespace selector', { matchExpressions: [{ key: 'toast', operator: 'Exists' }] }, 'namespace', 'has(toast)'],
    ['should handle an OpIn namespace selector', { matchExpressions: [{ key: 'toast', operator: 'In', values: ['butter', 'jam'] }] }, 'namespace', "toast in { 'butter', 'jam' }"],
    ['should handle an OpNotIn namespace selector', { matchExpressions: [{ key: 'toast', operator: 'NotIn', values: ['marmite', 'milk'] }] }, 'namespace', "toast not in { 'marmite', 'milk' }"],
    ['should handle an OpDoesNotExist pod selector', { matchExpressions: [{ key: 'toast', operator: 'DoesNotExist' }] }, 'pod', `${K8S} && ! has(toast)`],
    ['should handle nil pod selector', null, 'pod', K8S],
    ['should handle nil namespace selector', null, 'namespace', ''],
    ['sorts matchLabels and puts expressions after them', { matchLabels: { b: '2', a: '1' }, matchExpressions: [{ key: 'c', operator: 'Exists' }] }, 'pod', `${K8S} && a == '1' && b == '2' && has(c)`],
  ];
  for (const [title, input, type, expected] of cases) {
    it(title, () => assert.equal(k8sSelectorToCalico(input as never, type), expected));
  }
});

describe('NetworkPolicy conversion', () => {
  it('should parse a basic NetworkPolicy to a Policy', () => {
    const pol = np({
      podSelector: { matchLabels: { label: 'value', label2: 'value2' } },
      ingress: [{ ports: [{ port: 80 }], from: [{ podSelector: { matchLabels: { k: 'v', k2: 'v2' } } }] }],
      policyTypes: ['Ingress'],
    });
    assert.equal(pol.kind, 'NetworkPolicy');
    assert.equal(pol.metadata.name, 'knp.default.test.policy');
    assert.equal(pol.metadata.namespace, 'default');
    assert.equal(specOf(pol).tier, 'default');
    assert.equal(specOf(pol).order, 1000);
    assert.equal(specOf(pol).selector, `${K8S} && label == 'value' && label2 == 'value2'`);
    assert.deepEqual(ingress(pol), [{ action: 'Allow', protocol: 'TCP', source: { selector: `${K8S} && k == 'v' && k2 == 'v2'` }, destination: { ports: [80] } }]);
    assert.deepEqual(egress(pol), []);
    assert.deepEqual(specOf(pol).types, ['Ingress']);
  });

  it('should parse a k8s NetworkPolicy with a DoesNotExist expression and named ports', () => {
    const pol = np({
      podSelector: { matchLabels: { label: 'value', label2: 'value2' } },
      ingress: [{ ports: [{ port: 80 }, { port: 'foo' }], from: [{ podSelector: { matchExpressions: [{ key: 'toast', operator: 'DoesNotExist' }] } }] }],
      policyTypes: ['Ingress'],
    });
    assert.deepEqual(ingress(pol), [{ action: 'Allow', protocol: 'TCP', source: { selector: `${K8S} && ! has(toast)` }, destination: { ports: [80, 'foo'] } }]);
  });

  it('should parse a NetworkPolicy with no rules', () => {
    const pol = np({ podSelector: { matchLabels: { label: 'value' } }, policyTypes: ['Ingress'] });
    assert.equal(pol.metadata.name, 'knp.default.test.policy');
    assert.equal(specOf(pol).selector, `${K8S} && label == 'value'`);
    assert.deepEqual(ingress(pol), []);
    assert.deepEqual(specOf(pol).types, ['Ingress']);
  });

  it('should parse a default-deny egress NetworkPolicy', () => {
    const pol = np({ podSelector: {}, policyTypes: ['Egress'] }, 'test-policy');
    assert.equal(pol.metadata.name, 'knp.default.test-policy');
    assert.equal(specOf(pol).selector, K8S);
    assert.deepEqual(egress(pol), []);
    assert.deepEqual(ingress(pol), []);
    assert.deepEqual(specOf(pol).types, ['Egress']);
  });

  it('should parse a NetworkPolicy with multiple peers (and an empty port)', () => {
    const pol = np({
      podSelector: { matchLabels: { label: 'value' } },
      ingress: [{ ports: [{}], from: [{ podSelector: { matchLabels: { k: 'v' } } }, { podSelector: { matchLabels: { k2: 'v2' } } }] }],
      policyTypes: ['Ingress'],
    });
    assert.equal(ingress(pol).length, 2);
    assert.equal(ingress(pol)[0]!.source?.selector, `${K8S} && k == 'v'`);
    assert.equal(ingress(pol)[1]!.source?.selector, `${K8S} && k2 == 'v2'`);
    assert.equal(ingress(pol)[0]!.protocol, 'TCP');
    assert.equal(ingress(pol)[0]!.destination, undefined);
  });

  it('should parse a NetworkPolicy with multiple peers and ports (one rule per protocol and peer)', () => {
    const pol = np({
      podSelector: { matchLabels: { label: 'value' } },
      ingress: [{
        ports: [{ port: 90, protocol: 'UDP' }, { port: 80, protocol: 'TCP' }],
        from: [{ podSelector: { matchLabels: { k: 'v' } } }, { podSelector: { matchLabels: { k2: 'v2' } } }],
      }],
      policyTypes: ['Ingress'],
    });
    const rules = ingress(pol);
    assert.equal(rules.length, 4);
    assert.deepEqual(rules.map((r) => [r.protocol, r.source?.selector, (r.destination as { ports: unknown[] }).ports]), [
      ['TCP', `${K8S} && k == 'v'`, [80]],
      ['TCP', `${K8S} && k2 == 'v2'`, [80]],
      ['UDP', `${K8S} && k == 'v'`, [90]],
      ['UDP', `${K8S} && k2 == 'v2'`, [90]],
    ]);
  });

  it('should parse a NetworkPolicy with empty podSelector', () => {
    assert.equal(specOf(np({ podSelector: {}, policyTypes: ['Ingress'] })).selector, K8S);
  });

  it('should parse a NetworkPolicy with a namespaceSelector', () => {
    const pol = np({
      podSelector: { matchLabels: { label: 'value' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { namespaceRole: 'dev', namespaceFoo: 'bar' } } }] }],
      policyTypes: ['Ingress'],
    });
    assert.deepEqual(ingress(pol), [{ action: 'Allow', source: { selector: K8S, namespaceSelector: "namespaceFoo == 'bar' && namespaceRole == 'dev'" } }]);
  });

  it('should parse a NetworkPolicy with a nil namespace selector', () => {
    const pol = np({ podSelector: { matchLabels: { label: 'value' } }, ingress: [{ from: [{ podSelector: {} }] }], policyTypes: ['Ingress'] });
    assert.deepEqual(ingress(pol), [{ action: 'Allow', source: { selector: K8S } }]);
  });

  it('should parse a NetworkPolicy with an empty namespaceSelector (all())', () => {
    const pol = np({ podSelector: { matchLabels: { label: 'value' } }, ingress: [{ from: [{ namespaceSelector: { matchLabels: {} } }] }], policyTypes: ['Ingress'] });
    assert.deepEqual(ingress(pol), [{ action: 'Allow', source: { selector: K8S, namespaceSelector: 'all()' } }]);
  });

  it('should parse a NetworkPolicy with pod and namespace selectors', () => {
    const pol = np({
      podSelector: { matchLabels: { label: 'value' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { namespaceRole: 'dev', namespaceFoo: 'bar' } }, podSelector: { matchLabels: { podA: 'B', podC: 'D' } } }] }],
      policyTypes: ['Ingress'],
    });
    assert.equal(ingress(pol)[0]!.source?.selector, `${K8S} && podA == 'B' && podC == 'D'`);
    assert.equal(ingress(pol)[0]!.source?.namespaceSelector, "namespaceFoo == 'bar' && namespaceRole == 'dev'");
  });

  it('should parse a NetworkPolicy with podSelector.MatchExpressions', () => {
    const pol = np({ podSelector: { matchExpressions: [{ key: 'k', operator: 'In', values: ['v1', 'v2'] }] }, policyTypes: ['Ingress'] });
    assert.equal(specOf(pol).selector, `${K8S} && k in { 'v1', 'v2' }`);
  });

  it('should parse a NetworkPolicy with Ports only', () => {
    const pol = np({ podSelector: {}, ingress: [{ ports: [{ protocol: 'TCP', port: 80 }] }], policyTypes: ['Ingress'] });
    assert.deepEqual(ingress(pol), [{ action: 'Allow', protocol: 'TCP', destination: { ports: [80] } }]);
  });

  it('should parse a NetworkPolicy with Port Range only (endPort)', () => {
    const pol = np({ podSelector: {}, ingress: [{ ports: [{ protocol: 'TCP', port: 32000, endPort: 32768 }] }], policyTypes: ['Ingress'] });
    assert.deepEqual(ingress(pol), [{ action: 'Allow', protocol: 'TCP', destination: { ports: ['32000:32768'] } }]);
  });

  it('should parse a NetworkPolicy with an Egress rule with IPBlock and Ports', () => {
    const pol = np({
      podSelector: {},
      egress: [{
        ports: [{ port: 90, protocol: 'UDP' }, { port: 80, protocol: 'TCP' }],
        to: [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.3.0/24', '192.168.4.0/24', '192.168.5.0/24'] } }],
      }],
      policyTypes: ['Egress'],
    });
    const notNets = ['192.168.3.0/24', '192.168.4.0/24', '192.168.5.0/24'];
    assert.deepEqual(egress(pol), [
      { action: 'Allow', protocol: 'TCP', destination: { ports: [80], nets: ['192.168.0.0/16'], notNets } },
      { action: 'Allow', protocol: 'UDP', destination: { ports: [90], nets: ['192.168.0.0/16'], notNets } },
    ]);
    assert.deepEqual(specOf(pol).types, ['Egress']);
  });

  it('should parse a NetworkPolicyPeer with an IPBlock and no except field', () => {
    const pol = np({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '192.168.0.0/16' } }] }], policyTypes: ['Ingress'] });
    assert.deepEqual(ingress(pol), [{ action: 'Allow', source: { nets: ['192.168.0.0/16'] } }]);
  });

  it('normalises an ipBlock CIDR with host bits the way Calico does', () => {
    const pol = np({ podSelector: {}, ingress: [{ from: [{ ipBlock: { cidr: '192.168.1.7/16' } }] }], policyTypes: ['Ingress'] });
    assert.deepEqual(ingress(pol)[0]!.source, { nets: ['192.168.0.0/16'] });
  });

  it('should parse a NetworkPolicy with both an Egress and an Ingress rule', () => {
    const pol = np({
      podSelector: {},
      ingress: [{ from: [{ ipBlock: { cidr: '192.168.0.0/16', except: ['192.168.3.0/24', '192.168.4.0/24'] } }] }],
      egress: [{ to: [{ ipBlock: { cidr: '10.10.0.0/16', except: ['10.10.13.0/24', '10.10.14.0/24', '10.10.15.0/24'] } }] }],
      policyTypes: ['Egress', 'Ingress'],
    });
    assert.deepEqual(egress(pol), [{ action: 'Allow', destination: { nets: ['10.10.0.0/16'], notNets: ['10.10.13.0/24', '10.10.14.0/24', '10.10.15.0/24'] } }]);
    assert.deepEqual(ingress(pol), [{ action: 'Allow', source: { nets: ['192.168.0.0/16'], notNets: ['192.168.3.0/24', '192.168.4.0/24'] } }]);
    assert.deepEqual(specOf(pol).types, ['Ingress', 'Egress']);
  });

  it('without policyTypes: Ingress only (k8s <= 1.7 table)', () => {
    const pol = np({ podSelector: { matchLabels: { label: 'value' } }, ingress: [{ ports: [{ port: 80 }], from: [{ podSelector: { matchLabels: { k: 'v' } } }] }] });
    assert.deepEqual(specOf(pol).types, ['Ingress']);
  });

  it('without policyTypes but with egress rules: Ingress and Egress, as the Kubernetes API server defaults them', () => {
    const pol = np({ podSelector: {}, egress: [{ to: [{ podSelector: {} }] }] });
    assert.deepEqual(specOf(pol).types, ['Ingress', 'Egress']);
    assert.deepEqual(egress(pol), [{ action: 'Allow', destination: { selector: K8S } }]);
  });

  it('an ingress rule with no peers and no ports allows everything', () => {
    const pol = np({ podSelector: {}, ingress: [{}], policyTypes: ['Ingress'] });
    assert.deepEqual(ingress(pol), [{ action: 'Allow' }]);
    const empty = np({ podSelector: {}, ingress: [{ from: [], ports: [] }], policyTypes: ['Ingress'] });
    assert.deepEqual(ingress(empty), [{ action: 'Allow' }]);
  });

  it('a protocol with no port wins over ports of the same protocol (all ports)', () => {
    const pol = np({ podSelector: {}, ingress: [{ ports: [{ protocol: 'UDP' }, { protocol: 'UDP', port: 53 }] }], policyTypes: ['Ingress'] });
    assert.deepEqual(ingress(pol), [{ action: 'Allow', protocol: 'UDP' }]);
    const later = np({ podSelector: {}, ingress: [{ ports: [{ protocol: 'UDP', port: 53 }, { protocol: 'UDP' }] }], policyTypes: ['Ingress'] });
    assert.deepEqual(ingress(later), [{ action: 'Allow', protocol: 'UDP' }]);
  });

  it('merges adjacent ports of a protocol into ranges', () => {
    const pol = np({ podSelector: {}, ingress: [{ ports: [{ port: 82 }, { port: 80 }, { port: 'http' }, { port: 81 }, { port: 9090 }] }], policyTypes: ['Ingress'] });
    assert.deepEqual(ingress(pol)[0]!.destination, { ports: ['http', '80:82', 9090] });
  });

  it('keeps the metadata uid and creation time', () => {
    const pol = convertKubernetesResource({
      apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy',
      metadata: { name: 'p', namespace: 'prod', uid: 'abc-123', creationTimestamp: '2024-01-01T00:00:00Z', resourceVersion: '7', generation: 1 },
      spec: { podSelector: {} },
    });
    assert.equal(pol.metadata.namespace, 'prod');
    assert.equal(pol.metadata.uid, 'abc-123');
    assert.equal(pol.metadata.creationTimestamp, '2024-01-01T00:00:00Z');
  });

  it('defaults the namespace to default', () => {
    const pol = convertKubernetesResource({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p' }, spec: { podSelector: {} } });
    assert.equal(pol.metadata.namespace, 'default');
  });
});

describe('SimplifyPorts', () => {
  const cases: [string, (number | string)[], (number | string)[]][] = [
    ['empty', [], []],
    ['one port', [80], [80]],
    ['one numeric and a name keep their order', [80, 'foo'], [80, 'foo']],
    ['80, 81, 82, 9090, foo', [80, 81, 82, 9090, 'foo'], ['foo', '80:82', 9090]],
    ['duplicates collapse', [80, 80, 81], ['80:81']],
    ['ranges merge with neighbours', ['80:85', 86, 90], ['80:86', 90]],
  ];
  for (const [title, input, expected] of cases) it(title, () => assert.deepEqual(simplifyPorts(input), expected));
});

describe('NetworkPolicy decoding errors name the Kubernetes field', () => {
  it('an invalid named port', () => {
    rejects(() => np({ podSelector: {}, ingress: [{ ports: [{ port: 80 }, { port: '-50:-1' }] }] }), 'spec.ingress[0].ports[1].port', /invalid named port/);
  });
  it('a port out of range', () => rejects(() => np({ ingress: [{ ports: [{ port: 70000 }] }] }), 'spec.ingress[0].ports[0].port'));
  it('endPort with a named port', () => rejects(() => np({ ingress: [{ ports: [{ port: 'http', endPort: 90 }] }] }), 'spec.ingress[0].ports[0].endPort'));
  it('endPort below port', () => rejects(() => np({ egress: [{ ports: [{ port: 90, endPort: 80 }] }] }), 'spec.egress[0].ports[0].endPort'));
  it('an unknown protocol', () => rejects(() => np({ ingress: [{ ports: [{ protocol: 'ICMP', port: 80 }] }] }), 'spec.ingress[0].ports[0].protocol'));
  it('ipBlock together with a podSelector', () => rejects(() => np({ ingress: [{ from: [{ ipBlock: { cidr: '10.0.0.0/8' }, podSelector: {} }] }] }), 'spec.ingress[0].from[0]'));
  it('an empty peer', () => rejects(() => np({ ingress: [{ from: [{}] }] }), 'spec.ingress[0].from[0]'));
  it('an except outside the cidr', () => rejects(() => np({ egress: [{ to: [{ ipBlock: { cidr: '10.0.0.0/16', except: ['10.1.0.0/24'] } }] }] }), 'spec.egress[0].to[0].ipBlock.except[0]'));
  it('an invalid cidr', () => rejects(() => np({ egress: [{ to: [{ ipBlock: { cidr: '192.168.0.0/55' } }] }] }), 'spec.egress[0].to[0].ipBlock.cidr'));
  it('In without values', () => rejects(() => np({ podSelector: { matchExpressions: [{ key: 'k', operator: 'In' }] } }), 'spec.podSelector.matchExpressions[0].values'));
  it('Exists with values', () => rejects(() => np({ podSelector: { matchExpressions: [{ key: 'k', operator: 'Exists', values: ['a'] }] } }), 'spec.podSelector.matchExpressions[0].values'));
  it('an unknown operator', () => rejects(() => np({ podSelector: { matchExpressions: [{ key: 'k', operator: 'Gt', values: ['1'] }] } }), 'spec.podSelector.matchExpressions[0].operator'));
  it('an invalid label key', () => rejects(() => np({ podSelector: { matchLabels: { 'bad key': 'v' } } }), 'spec.podSelector.matchLabels["bad key"]'));
  it('an unknown policy type', () => rejects(() => np({ policyTypes: ['Forward'] }), 'spec.policyTypes[0]'));
  it('an unknown spec field', () => rejects(() => np({ podSelecter: {} }), 'spec'));
  it('an invalid name', () => rejects(() => np({}, 'Bad_Name'), 'metadata.name'));
  it('an unknown metadata field', () => rejects(() => convertKubernetesResource({ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', nmespace: 'x' }, spec: {} }), 'metadata'));
  it('the message names the file and document', () => {
    assert.throws(
      () => decodeResources('apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p}\nspec:\n  ingress:\n  - ports: [{port: 0}]\n', 'np.yaml'),
      /^ResourceValidationError: np\.yaml: document 1, line 1 NetworkPolicy "p": spec\.ingress\[0\]\.ports\[0\]\.port/,
    );
  });
});

describe('isKubernetesKind', () => {
  const cases: [unknown, boolean][] = [
    [{ apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy' }, true],
    [{ apiVersion: 'v1', kind: 'Namespace' }, true],
    [{ apiVersion: 'v1', kind: 'Pod' }, true],
    [{ apiVersion: 'projectcalico.org/v3', kind: 'NetworkPolicy' }, false],
    [{ apiVersion: 'apps/v1', kind: 'Deployment' }, false],
    [{ apiVersion: 'v1', kind: 'Service' }, false],
    [{ kind: 'Pod' }, false],
    [null, false],
    ['Pod', false],
  ];
  for (const [obj, expected] of cases) it(`${JSON.stringify(obj)} → ${expected}`, () => assert.equal(isKubernetesKind(obj), expected));
  it('convertKubernetesResource rejects other kinds', () => rejects(() => convertKubernetesResource({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' } }), 'kind'));
});

function pod(overrides: { metadata?: Obj; spec?: Obj; status?: Obj } = {}): Obj {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name: 'poda', namespace: 'default', annotations: { arbitrary: 'annotation' }, labels: { labelA: 'valueA', labelB: 'valueB' }, resourceVersion: '1234', ...overrides.metadata },
    spec: { nodeName: 'nodea', containers: [{ name: 'c', image: 'busybox' }], ...overrides.spec },
    status: overrides.status ?? { podIP: '192.168.0.1' },
  };
}
const wepSpec = (r: Resource) => r.spec as Obj;

describe('Pod conversion', () => {
  it('should parse a Pod with an IP to a WorkloadEndpoint', () => {
    const wep = convertKubernetesResource(pod({
      spec: {
        nodeName: 'nodea',
        containers: [
          { name: 'a', ports: [{ containerPort: 5678 }, { name: 'no-proto', containerPort: 1234 }] },
          { name: 'b', ports: [
            { name: 'tcp-proto', protocol: 'TCP', containerPort: 1024 },
            { name: 'tcp-hostport', protocol: 'TCP', containerPort: 8080, hostPort: 5678 },
            { name: 'tcp-hostip', protocol: 'TCP', containerPort: 8081, hostPort: 6789, hostIP: '1.2.3.4' },
            { protocol: 'TCP', containerPort: 500, hostPort: 5000 },
            { name: 'udp-proto', protocol: 'UDP', containerPort: 432 },
            { name: 'sctp-proto', protocol: 'SCTP', containerPort: 891 },
            { name: 'unkn-proto', protocol: 'unknown', containerPort: 567 },
          ] },
        ],
      },
    }));
    assert.equal(wep.kind, 'WorkloadEndpoint');
    assert.equal(wep.apiVersion, 'projectcalico.org/v3');
    assert.equal(wep.metadata.name, 'nodea-k8s-poda-eth0');
    assert.equal(wep.metadata.namespace, 'default');
    const spec = wepSpec(wep);
    assert.equal(spec.pod, 'poda');
    assert.equal(spec.node, 'nodea');
    assert.equal(spec.endpoint, 'eth0');
    assert.equal(spec.orchestrator, 'k8s');
    assert.deepEqual(spec.ipNetworks, ['192.168.0.1/32']);
    assert.deepEqual(spec.profiles, ['kns.default']);
    assert.deepEqual(wep.metadata.labels, {
      labelA: 'valueA', labelB: 'valueB', 'projectcalico.org/namespace': 'default', 'projectcalico.org/orchestrator': 'k8s',
    });
    assert.deepEqual(spec.ports, [
      { name: 'no-proto', protocol: 'TCP', port: 1234 },
      { name: 'tcp-proto', protocol: 'TCP', port: 1024 },
      { name: 'tcp-hostport', protocol: 'TCP', port: 8080, hostPort: 5678 },
      { name: 'tcp-hostip', protocol: 'TCP', port: 8081, hostPort: 6789, hostIP: '1.2.3.4' },
      { protocol: 'TCP', port: 500, hostPort: 5000 },
      { name: 'udp-proto', protocol: 'UDP', port: 432 },
      { name: 'sctp-proto', protocol: 'SCTP', port: 891 },
    ]);
    assert.equal(spec.interfaceName, vethNameForPod('default', 'poda'));
  });

  it('should parse a Pod with dual stack IPs', () => {
    const wep = convertKubernetesResource(pod({ status: { podIP: '192.168.0.1', podIPs: [{ ip: '192.168.0.1' }, { ip: 'fd5f:8067::1' }] } }));
    assert.deepEqual(wepSpec(wep).ipNetworks, ['192.168.0.1/32', 'fd5f:8067::1/128']);
  });

  it('should look in the calico annotation for the IP', () => {
    const wep = convertKubernetesResource(pod({ metadata: { annotations: { 'cni.projectcalico.org/podIP': '192.168.0.1' } }, status: {} }));
    assert.deepEqual(wepSpec(wep).ipNetworks, ['192.168.0.1/32']);
  });

  it('should look in the dual stack calico annotation for the IPs', () => {
    const wep = convertKubernetesResource(pod({ metadata: { annotations: { 'cni.projectcalico.org/podIP': '192.168.0.1', 'cni.projectcalico.org/podIPs': '192.168.0.1,fd5f:8067::1' } }, status: {} }));
    assert.deepEqual(wepSpec(wep).ipNetworks, ['192.168.0.1/32', 'fd5f:8067::1/128']);
  });

  it('should look for the AWS VPC CNI annotation for pod IPs', () => {
    const wep = convertKubernetesResource(pod({ metadata: { annotations: { 'vpc.amazonaws.com/pod-ips': '192.168.0.1' } }, status: {} }));
    assert.deepEqual(wepSpec(wep).ipNetworks, ['192.168.0.1/32']);
  });

  it('should handle IP annotations with /32 and /128', () => {
    const wep = convertKubernetesResource(pod({ metadata: { annotations: { 'cni.projectcalico.org/podIP': '192.168.0.1/32', 'cni.projectcalico.org/podIPs': '192.168.0.1/32,fd5f:8067::1/128' } }, status: {} }));
    assert.deepEqual(wepSpec(wep).ipNetworks, ['192.168.0.1/32', 'fd5f:8067::1/128']);
  });

  it('should look in the calico annotation for a floating IP', () => {
    const wep = convertKubernetesResource(pod({ metadata: { annotations: { 'cni.projectcalico.org/floatingIPs': '["1.1.1.1"]' } } }));
    assert.deepEqual(wepSpec(wep).ipNATs, [{ internalIP: '192.168.0.1', externalIP: '1.1.1.1' }]);
  });

  it('should handle floating IPs of both families', () => {
    const wep = convertKubernetesResource(pod({
      metadata: { annotations: { 'cni.projectcalico.org/floatingIPs': '["1.1.1.1", "fd80:100:100::1"]' } },
      status: { podIPs: [{ ip: '192.168.0.1' }, { ip: 'fd5f:8067::1' }] },
    }));
    assert.deepEqual(wepSpec(wep).ipNATs, [{ internalIP: '192.168.0.1', externalIP: '1.1.1.1' }, { internalIP: 'fd5f:8067::1', externalIP: 'fd80:100:100::1' }]);
  });

  it('should return an error for a malformed floating IP annotation', () => {
    rejects(() => convertKubernetesResource(pod({ metadata: { annotations: { 'cni.projectcalico.org/floatingIPs': '1.1.1.1' } } })), 'metadata.annotations.cni.projectcalico.org/floatingIPs');
  });

  it('should pass allowed source prefixes through, normalised', () => {
    const wep = convertKubernetesResource(pod({ metadata: { annotations: { 'cni.projectcalico.org/allowedSourcePrefixes': '["8.8.8.8/32", "10.0.1.7/24"]' } } }));
    assert.deepEqual(wepSpec(wep).allowSpoofedSourcePrefixes, ['8.8.8.8/32', '10.0.1.0/24']);
  });

  it('should add the service account profile and label', () => {
    const wep = convertKubernetesResource(pod({ spec: { nodeName: 'nodea', serviceAccountName: 'sa-test' } }));
    assert.deepEqual(wepSpec(wep).profiles, ['kns.default', 'ksa.default.sa-test']);
    assert.equal(wepSpec(wep).serviceAccountName, 'sa-test');
    assert.equal(wep.metadata.labels?.['projectcalico.org/serviceaccount'], 'sa-test');
  });

  it('should leave the service account label off for names of 63 characters or more', () => {
    const sa = 'a'.repeat(63);
    const wep = convertKubernetesResource(pod({ spec: { nodeName: 'nodea', serviceAccountName: sa } }));
    assert.equal(wep.metadata.labels?.['projectcalico.org/serviceaccount'], undefined);
    assert.deepEqual(wepSpec(wep).profiles, ['kns.default', `ksa.default.${sa}`]);
  });

  it('should pass the container ID annotation through', () => {
    const wep = convertKubernetesResource(pod({ metadata: { annotations: { 'cni.projectcalico.org/containerID': 'abc123' } } }));
    assert.equal(wepSpec(wep).containerID, 'abc123');
  });

  it('should not keep the IPs of a finished pod', () => {
    for (const phase of ['Succeeded', 'Failed']) {
      const wep = convertKubernetesResource(pod({ status: { phase, podIP: '192.168.0.1' } }));
      assert.equal(wepSpec(wep).ipNetworks, undefined, phase);
    }
  });

  it('should not keep the IPs of a deleting pod whose IP annotation was cleared', () => {
    const wep = convertKubernetesResource(pod({ metadata: { deletionTimestamp: '2024-01-01T00:00:00Z', annotations: { 'cni.projectcalico.org/podIP': '' } } }));
    assert.equal(wepSpec(wep).ipNetworks, undefined);
  });

  it('should convert a pod with no IP yet', () => {
    const wep = convertKubernetesResource(pod({ status: {} }));
    assert.equal(wepSpec(wep).ipNetworks, undefined);
  });

  it('escapes dashes in the node and pod names', () => {
    const wep = convertKubernetesResource(pod({ metadata: { name: 'pod-name' }, spec: { nodeName: 'node-1' } }));
    assert.equal(wep.metadata.name, 'node--1-k8s-pod--name-eth0');
  });

  it('uses the namespace in the profile and labels', () => {
    const wep = convertKubernetesResource(pod({ metadata: { namespace: 'prod' } }));
    assert.equal(wep.metadata.namespace, 'prod');
    assert.deepEqual(wepSpec(wep).profiles, ['kns.prod']);
    assert.equal(wep.metadata.labels?.['projectcalico.org/namespace'], 'prod');
    assert.equal(wepSpec(wep).interfaceName, vethNameForPod('prod', 'poda'));
  });

  it('rejects a pod that is not scheduled', () => rejects(() => convertKubernetesResource(pod({ spec: { nodeName: undefined } })), 'spec.nodeName'));
  it('rejects a host-networked pod', () => rejects(() => convertKubernetesResource(pod({ spec: { nodeName: 'nodea', hostNetwork: true } })), 'spec.hostNetwork'));
  it('rejects a malformed pod IP', () => rejects(() => convertKubernetesResource(pod({ status: { podIP: '192.168.0.300' } })), 'status.podIP'));
  it('rejects a malformed podIPs entry', () => rejects(() => convertKubernetesResource(pod({ status: { podIPs: [{ ip: '10.0.0.1' }, { ip: 'nope' }] } })), 'status.podIPs[1].ip'));
  it('rejects a bad container port', () => rejects(() => convertKubernetesResource(pod({ spec: { nodeName: 'nodea', containers: [{ name: 'c', ports: [{ containerPort: 0 }] }] } })), 'spec.containers[0].ports[0].containerPort'));
  it('rejects an invalid port name', () => rejects(() => convertKubernetesResource(pod({ spec: { nodeName: 'nodea', containers: [{ name: 'c', ports: [{ name: 'Web', containerPort: 80 }] }] } })), 'spec.containers[0].ports[0].name'));
  it('tolerates Pod fields Margay does not read', () => {
    assert.doesNotThrow(() => convertKubernetesResource(pod({ spec: { nodeName: 'nodea', restartPolicy: 'Always', containers: [{ name: 'c', image: 'x', command: ['sh'], resources: {} }] }, status: { podIP: '10.0.0.1', conditions: [] } })));
  });
});

describe('Namespace conversion', () => {
  it('converts a Namespace to the kns.<ns> Profile that allows all and applies pcns.* labels', () => {
    const profile = convertKubernetesResource({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'prod', uid: 'u-1', labels: { env: 'prod', 'kubernetes.io/metadata.name': 'prod' } } });
    assert.equal(profile.kind, 'Profile');
    assert.equal(profile.metadata.name, 'kns.prod');
    assert.equal(profile.metadata.uid, 'u-1');
    assert.equal(profile.metadata.namespace, undefined);
    const spec = profile.spec as Obj;
    assert.deepEqual(spec.ingress, [{ action: 'Allow' }]);
    assert.deepEqual(spec.egress, [{ action: 'Allow' }]);
    assert.deepEqual(spec.labelsToApply, { 'pcns.env': 'prod', 'pcns.kubernetes.io/metadata.name': 'prod', 'pcns.projectcalico.org/name': 'prod' });
  });
  it('always applies the name labels (Calico\'s, and the one the Kubernetes API server adds)', () => {
    const profile = convertKubernetesResource({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
    assert.deepEqual((profile.spec as Obj).labelsToApply, { 'pcns.kubernetes.io/metadata.name': 'default', 'pcns.projectcalico.org/name': 'default' });
  });
  it('rejects a namespace name that is not a DNS label', () => {
    rejects(() => convertKubernetesResource({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'a.b' } }), 'metadata.name');
  });
});

describe('conformance k8s manifests', () => {
  const file = '/work/shared/conformance/manifests/valid/65-k8s-netpol-different-namespace.yaml';
  it('65-k8s-netpol-different-namespace converts to the expected policy', () => {
    assert.ok(existsSync(file), `conformance sample not found: ${file} (it comes with ../shared beside the checkout)`);
    const [decoded] = decodeResources(readFileSync(file, 'utf8'), file);
    const pol = decoded!.resource;
    assert.equal(pol.metadata.name, 'knp.default.allow-different-namespace');
    assert.equal(pol.metadata.namespace, 'default');
    assert.equal(specOf(pol).selector, `${K8S} && color == 'blue'`);
    assert.deepEqual(specOf(pol).types, ['Ingress']);
    assert.deepEqual(ingress(pol), [{
      action: 'Allow', protocol: 'TCP',
      source: { selector: `${K8S} && color == 'red'`, namespaceSelector: "shape == 'square'" },
      destination: { ports: [80] },
    }]);
  });
});
