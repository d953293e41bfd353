/**
 * Acceptance: Calico-only policy semantics over a real agent, etcd and kernel — tiers and Pass,
 * order, Log, GlobalNetworkPolicy with namespace selectors, NetworkSets (global and namespaced),
 * host endpoints with failsafe ports, the workload-to-host default action from a
 * FelixConfiguration, anti-spoofing and fail-closed unknown workload interfaces. Where a matrix
 * applies, the expectation, `margay policy matrix` and the probes must agree.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { vethNameForPod } from '../../src/api/k8s/mod.ts';
import { configureWorkloadInterface } from '../../src/dataplane/mod.ts';
import { createRunner } from '../../src/os/mod.ts';
import { createTestNetns, run } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import { anyPod, not, pods, ports, Truth } from '../agent/k8s-model.ts';
import { listRuleset, startPodProcess, type TestPod } from '../agent/lab.ts';
import { usePolicySuite } from '../agent/policy-check.ts';

const NODE = 'host1';
const PODS = ['shop/front', 'shop/back', 'shop/db', 'ops/monitor'];
const ROLE: Record<string, string> = { 'shop/front': 'front', 'shop/back': 'back', 'shop/db': 'db', 'ops/monitor': 'monitor' };
const IP: Record<string, string> = { 'shop/front': '10.244.11.1', 'shop/back': '10.244.11.2', 'shop/db': '10.244.11.3', 'ops/monitor': '10.244.12.1' };
const PORTS = ['80/TCP', '81/TCP', '80/UDP'] as const;
const [F, B, D, M] = PODS.map((p) => pods(p)) as [ReturnType<typeof pods>, ReturnType<typeof pods>, ReturnType<typeof pods>, ReturnType<typeof pods>];

const truth = (allowed = true): Truth => new Truth(allowed, PODS, PORTS);

function podManifest(key: string, annotations: Record<string, string> = {}): object {
  const [ns, name] = key.split('/') as [string, string];
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: ns, labels: { role: ROLE[key] }, annotations },
    spec: { nodeName: NODE, containers: [{ name: 'c', ports: [{ name: 'http', containerPort: 80 }] }] },
    status: { podIP: IP[key] },
  };
}

const namespace = (ns: string): object => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { 'kubernetes.io/metadata.name': ns } } });

function v3(kind: string, name: string, spec: Record<string, unknown>, extra: { namespace?: string; labels?: Record<string, string> } = {}): object {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind,
    metadata: { name, ...(extra.namespace ? { namespace: extra.namespace } : {}), ...(extra.labels ? { labels: extra.labels } : {}) },
    spec,
  };
}

describe('policy: Calico semantics', () => {
  const suite = usePolicySuite({
    dirPrefix: 'margay-calico-',
    pods: PODS,
    ports: PORTS,
    node: NODE,
    plumbing: (key) => {
      const [ns, name] = key.split('/') as [string, string];
      return { hostInterface: vethNameForPod(ns, name), ip: IP[key]! };
    },
    manifests: [namespace('shop'), namespace('ops'), ...PODS.map((k) => podManifest(k))],
  });

  const byName = (key: string): TestPod => suite.pods[PODS.indexOf(key)]!;

  it('tiers in order, Pass to the next tier, end-of-tier deny', async () => {
    const security = v3('Tier', 'security', { order: 100, defaultAction: 'Deny' });
    await suite.checker.check(
      [
        security,
        v3('GlobalNetworkPolicy', 'security.pass-monitor', {
          tier: 'security',
          order: 10,
          selector: 'all()',
          types: ['Ingress'],
          ingress: [{ action: 'Pass', source: { selector: "role == 'monitor'" } }],
        }),
        v3('GlobalNetworkPolicy', 'security.allow-shop', {
          tier: 'security',
          order: 20,
          selector: "projectcalico.org/namespace == 'shop'",
          types: ['Ingress'],
          ingress: [{ action: 'Allow', source: { namespaceSelector: "projectcalico.org/name == 'shop'" } }],
        }),
        v3('NetworkPolicy', 'db-from-back', { tier: 'default', selector: "role == 'db'", types: ['Ingress'], ingress: [{ action: 'Allow', source: { selector: "role == 'back'" } }] }, { namespace: 'shop' }),
      ],
      // Shop → shop: allowed in the security tier. Monitor → shop: passed to the default tier,
      // where only db has a policy (monitor is not back: end-of-tier deny); front and back have
      // none there and fall to their profile (allow). Into monitor: the security tier selects
      // it and nothing matches: end-of-tier deny.
      truth().set(not(M), M, false).set(M, D, false),
    );
    const trace = await suite.checker.cli(['policy', 'trace', '--from', 'ops/monitor', '--to', 'shop/db', '--port', '80']);
    assert.match(trace, /tier security, GlobalNetworkPolicy security\.pass-monitor, ingress rule 0: pass/);
    assert.match(trace, /^decided by: tier default: no policy decided, end of tier: deny$/m);
  });

  it('a tier with defaultAction Pass goes on to the next tier', async () => {
    await suite.checker.check(
      [
        v3('Tier', 'security', { order: 100, defaultAction: 'Pass' }),
        v3('GlobalNetworkPolicy', 'security.deny-monitor-to-db', {
          tier: 'security',
          selector: "role == 'db'",
          types: ['Ingress'],
          ingress: [{ action: 'Deny', source: { selector: "role == 'monitor'" } }],
        }),
      ],
      truth().set(M, D, false),
    );
  });

  it('order decides between policies of one tier, and a change of order is enforced', async () => {
    const deny = (order: number): object =>
      v3('GlobalNetworkPolicy', 'deny-front-80', {
        order,
        selector: "role == 'back'",
        types: ['Ingress'],
        ingress: [{ action: 'Deny', protocol: 'TCP', source: { selector: "role == 'front'" }, destination: { ports: [80] } }],
      });
    const allow = v3('GlobalNetworkPolicy', 'allow-all-into-back', { order: 20, selector: "role == 'back'", types: ['Ingress'], ingress: [{ action: 'Allow' }] });
    await suite.checker.check([deny(10), allow], truth().set(F, B, false, ports('80/TCP')));
    await suite.checker.check([deny(30), allow], truth());
  });

  it('Log rules log and go on; the ruleset carries the prefix', async () => {
    await suite.checker.check(
      [
        v3('GlobalNetworkPolicy', 'log-then-allow-monitor', {
          order: 5,
          selector: "role == 'db'",
          types: ['Ingress'],
          ingress: [
            { action: 'Log', source: { selector: "role == 'monitor'" } },
            { action: 'Allow', source: { selector: "role == 'monitor'" } },
          ],
        }),
      ],
      truth().set(not(M), D, false),
    );
    assert.match(await listRuleset(suite.host.name), /log prefix "[^"]*"/);
    const trace = JSON.parse(await suite.checker.cli(['policy', 'trace', '--from', 'ops/monitor', '--to', 'shop/db', '--port', '80', '-o', 'json'])) as {
      steps: Array<{ action: string; logPrefix?: string }>;
      verdict: string;
    };
    assert.equal(trace.verdict, 'allow');
    assert.ok(trace.steps.some((s) => s.action === 'log' && typeof s.logPrefix === 'string'));
  });

  it('GlobalNetworkPolicy with a namespaceSelector applies across namespaces', async () => {
    await suite.checker.check(
      [
        v3('GlobalNetworkPolicy', 'deny-from-ops', {
          order: 10,
          selector: 'all()',
          types: ['Ingress'],
          ingress: [{ action: 'Deny', source: { namespaceSelector: "projectcalico.org/name == 'ops'" } }, { action: 'Allow' }],
        }),
      ],
      truth().set(M, anyPod, false),
    );
  });

  it('GlobalNetworkSets and namespaced NetworkSets act as labelled nets', async () => {
    const netset = v3('GlobalNetworkSet', 'monitoring', { nets: [`${IP['ops/monitor']}/32`] }, { labels: { role: 'trusted-net' } });
    const intoDb = v3('GlobalNetworkPolicy', 'db-from-trusted-nets', {
      order: 10,
      selector: "role == 'db'",
      types: ['Ingress'],
      ingress: [{ action: 'Allow', source: { selector: "role == 'trusted-net'" } }],
    });
    await suite.checker.check([netset, intoDb], truth().set(not(M), D, false));
    const backs = v3('NetworkSet', 'backs', { nets: [`${IP['shop/back']}/32`] }, { namespace: 'shop', labels: { kind: 'backs' } });
    const fromSet = v3('NetworkPolicy', 'db-from-netset', { selector: "role == 'db'", types: ['Ingress'], ingress: [{ action: 'Allow', source: { selector: "kind == 'backs'" } }] }, { namespace: 'shop' });
    await suite.checker.check([netset, intoDb, backs, fromSet], truth().set(F, D, false));
  });

  it('anti-spoofing: a workload may send only from its own addresses, unless allowed', async () => {
    await suite.checker.setResources([]);
    const front = byName('shop/front');
    const back = byName('shop/back');
    const spoofed = '10.244.11.99';
    await front.netns.exec('ip', ['addr', 'add', `${spoofed}/32`, 'dev', 'eth0']);
    // Give the host a way back, so that only the agent's rule can stop the connection.
    await run('ip', ['-n', suite.host.name, 'route', 'add', `${spoofed}/32`, 'dev', front.hostInterface]);
    const probe = (src?: string) => front.probe([{ ip: back.ip, port: 80, proto: 'tcp', ...(src ? { src } : {}) }]);
    await eventually(async () => (await probe())[0] === true);
    assert.deepEqual(await probe(spoofed), [false]);
    await suite.checker.cli(['apply'], [podManifest('shop/front', { 'cni.projectcalico.org/allowedSourcePrefixes': `["${spoofed}/32"]` })]);
    await eventually(async () => (await probe(spoofed))[0] === true, { what: 'allowed spoofed prefix' });
    await suite.checker.cli(['apply'], [podManifest('shop/front')]);
    await eventually(async () => (await probe(spoofed))[0] === false, { what: 'spoofing blocked again' });
    await run('ip', ['-n', suite.host.name, 'route', 'del', `${spoofed}/32`]);
  });

  it('fails closed: traffic from and to an unknown workload interface is dropped', async () => {
    const ghostNs = await createTestNetns('mgw');
    suite.extraNetns.push(ghostNs);
    const iface = 'caliunknown01';
    const ghostIp = '10.244.11.50';
    await run('ip', ['-n', suite.host.name, 'link', 'add', iface, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ghostNs.name]);
    await run('ip', ['-n', suite.host.name, 'link', 'set', iface, 'address', 'ee:ee:ee:ee:ee:ee', 'up']);
    await configureWorkloadInterface(createRunner({ netns: suite.host.name }), iface);
    await run('ip', ['-n', ghostNs.name, 'addr', 'add', `${ghostIp}/32`, 'dev', 'eth0']);
    await run('ip', ['-n', ghostNs.name, 'link', 'set', 'eth0', 'up']);
    await run('ip', ['-n', ghostNs.name, 'route', 'add', '169.254.1.1', 'dev', 'eth0', 'scope', 'link']);
    await run('ip', ['-n', ghostNs.name, 'route', 'add', 'default', 'via', '169.254.1.1', 'dev', 'eth0']);
    await run('ip', ['-n', suite.host.name, 'route', 'add', `${ghostIp}/32`, 'dev', iface]);
    const ghost = await startPodProcess(ghostNs, 'ghost', ghostIp, iface, [80]);
    const front = byName('shop/front');
    assert.deepEqual(await ghost.probe([{ ip: front.ip, port: 80, proto: 'tcp' }, { ip: front.ip, port: 80, proto: 'udp' }]), [false, false]);
    assert.deepEqual(await front.probe([{ ip: ghostIp, port: 80, proto: 'tcp' }]), [false]);
    const counters = (await run('ip', ['netns', 'exec', suite.host.name, 'nft', 'list', 'chain', 'inet', 'margay', 'from-wl-dispatch'])).stdout;
    assert.match(counters, /counter packets [1-9]\d* bytes \d+ drop/);
    // Registered as a workload, the same interface works: the drop was the fail-closed rule.
    await run('ip', ['-n', suite.host.name, 'route', 'del', `${ghostIp}/32`]);
    const ghostWep = v3(
      'WorkloadEndpoint',
      `${NODE}-k8s-ghost-eth0`,
      { orchestrator: 'k8s', node: NODE, pod: 'ghost', endpoint: 'eth0', interfaceName: iface, ipNetworks: [`${ghostIp}/32`], profiles: ['kns.shop'] },
      { namespace: 'shop', labels: { 'projectcalico.org/namespace': 'shop', 'projectcalico.org/orchestrator': 'k8s' } },
    );
    await suite.checker.cli(['apply'], [ghostWep]);
    await eventually(async () => (await ghost.probe([{ ip: front.ip, port: 80, proto: 'tcp' }]))[0] === true, { what: 'registered workload reaches front' });
    await suite.checker.cli(['delete'], [ghostWep]);
    await eventually(async () => (await ghost.probe([{ ip: front.ip, port: 80, proto: 'tcp' }]))[0] === false, { what: 'dropped again once unregistered' });
  });

  it('host endpoints: default deny with failsafe ports open; policy opens more; workload-to-host action', async () => {
    // An outside client on a new link to the host.
    const outside = await createTestNetns('mgw');
    suite.extraNetns.push(outside);
    await run('ip', ['-n', suite.host.name, 'link', 'add', 'ext0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', outside.name]);
    await run('ip', ['-n', suite.host.name, 'addr', 'add', '198.51.100.1/24', 'dev', 'ext0']);
    await run('ip', ['-n', suite.host.name, 'link', 'set', 'ext0', 'up']);
    await run('ip', ['-n', outside.name, 'addr', 'add', '198.51.100.2/24', 'dev', 'eth0']);
    await run('ip', ['-n', outside.name, 'link', 'set', 'eth0', 'up']);
    const client = await startPodProcess(outside, 'outside', '198.51.100.2', 'eth0', []);
    // Services on the host itself: 22 (a failsafe port) and 8080.
    const services = await startPodProcess(suite.host, 'host-services', '198.51.100.1', 'ext0', [22, 8080]);
    void services;
    const probeHost = () => client.probe([{ ip: '198.51.100.1', port: 22, proto: 'tcp' }, { ip: '198.51.100.1', port: 8080, proto: 'tcp' }]);
    await eventually(async () => JSON.stringify(await probeHost()) === '[true,true]', { what: 'no host endpoint: open' });
    const hep = v3('HostEndpoint', `${NODE}-ext0`, { node: NODE, interfaceName: 'ext0', expectedIPs: ['198.51.100.1'] }, { labels: { hep: 'ext' } });
    await suite.checker.setResources([hep]);
    await eventually(async () => JSON.stringify(await probeHost()) === '[true,false]', { what: 'failsafe 22 only' });
    await suite.checker.setResources([
      hep,
      v3('GlobalNetworkPolicy', 'hep-allow-8080', { selector: "hep == 'ext'", types: ['Ingress'], ingress: [{ action: 'Allow', protocol: 'TCP', destination: { ports: [8080] } }] }),
    ]);
    await eventually(async () => JSON.stringify(await probeHost()) === '[true,true]', { what: 'policy opens 8080' });
    const trace = await suite.checker.cli(['policy', 'trace', '--from', '198.51.100.2', '--to', `hep:${NODE}-ext0`, '--port', '22']);
    assert.match(trace, /failsafe port: allow/);
    await suite.checker.setResources([]);
    await eventually(async () => JSON.stringify(await probeHost()) === '[true,true]', { what: 'host endpoint removed' });

    // Workload → host: DefaultEndpointToHostAction (Drop by default; Accept from a FelixConfiguration).
    const front = byName('shop/front');
    const toHost = () => front.probe([{ ip: '198.51.100.1', port: 8080, proto: 'tcp' }]);
    assert.deepEqual(await toHost(), [false]);
    const felix = v3('FelixConfiguration', 'default', { defaultEndpointToHostAction: 'Accept' });
    await suite.checker.cli(['apply'], [felix]);
    await eventually(async () => (await toHost())[0] === true, { what: 'Accept from FelixConfiguration default' });
    await suite.checker.cli(['apply'], [v3('FelixConfiguration', 'default', {})]);
    await eventually(async () => (await toHost())[0] === false, { what: 'Drop again' });
  });
});
