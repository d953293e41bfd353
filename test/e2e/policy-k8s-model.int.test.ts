/**
 * Acceptance: Kubernetes' standard NetworkPolicy test model (namespaces x, y, z; pods a, b, c;
 * TCP and UDP on 80 and 81 with named ports) behind veths in one host namespace, programmed by a
 * real agent from a real etcd. Manifests (v1 Namespace, v1 Pod, networking.k8s.io/v1
 * NetworkPolicy) go in through the real CLI. For every case, three answers must be the same:
 * the hand-written Kubernetes expectation, `margay policy matrix` against the datastore, and
 * probes of every pair over the real dataplane.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { useEtcd } from '../harness/etcd.ts';
import type { TestNetns } from '../harness/netns.ts';
import { addPod, type AgentProcess, createHost, startAgent, type TestPod } from '../agent/lab.ts';
import { PolicyChecker } from '../agent/policy-check.ts';
import {
  anyPod,
  inNs,
  named,
  namespaceManifest,
  NAMESPACES,
  networkPolicy,
  NODE,
  not,
  podInterface,
  podIp,
  podManifest,
  PODS,
  pods,
  PORTS,
  ports,
  tcp,
  Truth,
  udp,
} from '../agent/k8s-model.ts';

describe('policy: the Kubernetes NetworkPolicy test model', () => {
  const handle = useEtcd();
  let host: TestNetns;
  const running: TestPod[] = [];
  let agent: AgentProcess | undefined;
  let dir = '';
  let checker: PolicyChecker;

  /**
   * One case: (optionally) apply `setup` (pods or namespaces with new labels), make `policies` the
   * whole set of NetworkPolicies, then check the matrix and the probes against `expected`.
   */
  async function check(policies: object[], expected: Truth, setup?: object[]): Promise<void> {
    if (setup) await checker.cli(['apply'], setup);
    await checker.check(policies, expected);
  }

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'margay-k8s-model-'));
    checker = new PolicyChecker({
      env: () => ({ ETCD_ENDPOINTS: handle.etcd.endpoints.join(',') }),
      dir,
      pods: () => running,
      names: PODS,
      ports: PORTS,
      agent: () => agent,
    });
    host = await createHost();
    for (const key of PODS) running.push(await addPod(host, { name: key, hostInterface: podInterface(key), ip: podIp(key), ports: [80, 81] }));
    await checker.cli(['apply'], [...NAMESPACES.map((ns) => namespaceManifest(ns)), ...PODS.map((k) => podManifest(k))]);
    agent = await startAgent({ etcdEndpoints: handle.etcd.endpoints, hostname: NODE, netns: host.name });
    await agent.waitReady();
  });

  after(async () => {
    await agent?.destroy();
    for (const p of running) await p.netns.delete();
    await host?.delete();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const xa = pods('x/a');
  const nsLabel = (ns: string) => ({ matchLabels: { 'kubernetes.io/metadata.name': ns } });

  it('no policy: everything is allowed', async () => {
    await check([], new Truth());
  });

  it('default deny ingress in x', async () => {
    await check([networkPolicy('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] })], new Truth().denyIngress(inNs('x')));
  });

  it('default deny egress in x', async () => {
    await check([networkPolicy('x', 'deny-egress', { podSelector: {}, policyTypes: ['Egress'] })], new Truth().denyEgress(inNs('x')));
  });

  it('default deny both ways in x', async () => {
    await check(
      [networkPolicy('x', 'deny-all', { podSelector: {}, policyTypes: ['Ingress', 'Egress'] })],
      new Truth().denyIngress(inNs('x')).denyEgress(inNs('x')),
    );
  });

  it('allow into x/a from namespace y only', async () => {
    await check(
      [networkPolicy('x', 'allow-from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: nsLabel('y') }] }] })],
      new Truth().denyIngress(xa).set(inNs('y'), xa, true),
    );
  });

  it('update: the same policy now allows namespace z', async () => {
    await check(
      [networkPolicy('x', 'allow-from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: nsLabel('z') }] }] })],
      new Truth().denyIngress(xa).set(inNs('z'), xa, true),
    );
  });

  it('pod and namespace selectors in one peer (AND)', async () => {
    await check(
      [
        networkPolicy('x', 'and-peer', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [
            {
              from: [
                {
                  namespaceSelector: { matchExpressions: [{ key: 'kubernetes.io/metadata.name', operator: 'In', values: ['y', 'z'] }] },
                  podSelector: { matchLabels: { pod: 'b' } },
                },
              ],
            },
          ],
        }),
      ],
      new Truth().denyIngress(xa).set(pods('y/b', 'z/b'), xa, true),
    );
  });

  it('pod and namespace selectors in two peers (OR); a bare podSelector means the policy namespace', async () => {
    await check(
      [
        networkPolicy('x', 'or-peers', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [{ from: [{ namespaceSelector: nsLabel('y') }, { podSelector: { matchLabels: { pod: 'b' } } }] }],
        }),
      ],
      new Truth().denyIngress(xa).set(inNs('y'), xa, true).set(pods('x/b'), xa, true),
    );
  });

  it('an empty namespaceSelector with a podSelector: those pods in every namespace', async () => {
    await check(
      [
        networkPolicy('x', 'all-ns-c', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'c' } } }] }],
        }),
      ],
      new Truth().denyIngress(xa).set(named('c'), xa, true),
    );
  });

  it('ipBlock with except', async () => {
    await check(
      [
        networkPolicy('x', 'ipblock', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [{ from: [{ ipBlock: { cidr: '10.244.0.0/16', except: [`${podIp('y/b')}/32`, '10.244.3.0/24'] } }] }],
        }),
      ],
      new Truth().denyIngress(xa).set(not(pods('y/b')), xa, true).set(inNs('z'), xa, false),
    );
  });

  it('egress to an ipBlock only', async () => {
    await check(
      [networkPolicy('x', 'egress-ipblock', { podSelector: { matchLabels: { pod: 'a' } }, policyTypes: ['Egress'], egress: [{ to: [{ ipBlock: { cidr: '10.244.2.0/24' } }] }] })],
      new Truth().denyEgress(xa).set(xa, inNs('y'), true),
    );
  });

  it('named port in ingress', async () => {
    await check(
      [networkPolicy('x', 'named-81-tcp', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 'serve-81-tcp' }] }] })],
      new Truth().denyIngress(xa).set(anyPod, xa, true, ports('81/TCP')),
    );
  });

  it('named UDP port in egress, resolved at every destination', async () => {
    await check(
      [
        networkPolicy('x', 'egress-named-udp', {
          podSelector: { matchLabels: { pod: 'a' } },
          policyTypes: ['Egress'],
          egress: [{ ports: [{ protocol: 'UDP', port: 'serve-81-udp' }] }],
        }),
      ],
      new Truth().denyEgress(xa).set(xa, anyPod, true, ports('81/UDP')),
    );
  });

  it('port range with endPort', async () => {
    await check(
      [networkPolicy('x', 'range', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ protocol: 'TCP', port: 80, endPort: 81 }] }] })],
      new Truth().denyIngress(xa).set(anyPod, xa, true, tcp),
    );
  });

  it('a port without protocol is TCP; a UDP port is UDP only', async () => {
    await check(
      [
        networkPolicy('x', 'tcp-81', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ ports: [{ port: 81 }] }] }),
        networkPolicy('x', 'udp-80-b', { podSelector: { matchLabels: { pod: 'b' } }, ingress: [{ ports: [{ protocol: 'UDP', port: 80 }] }] }),
      ],
      new Truth()
        .denyIngress(xa)
        .set(anyPod, xa, true, ports('81/TCP'))
        .denyIngress(pods('x/b'))
        .set(anyPod, pods('x/b'), true, ports('80/UDP')),
    );
  });

  it('policies are additive', async () => {
    await check(
      [
        networkPolicy('x', 'from-y', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: nsLabel('y') }] }] }),
        networkPolicy('x', 'from-z-udp', { podSelector: { matchLabels: { pod: 'a' } }, ingress: [{ from: [{ namespaceSelector: nsLabel('z') }], ports: [{ protocol: 'UDP', port: 81 }] }] }),
      ],
      new Truth().denyIngress(xa).set(inNs('y'), xa, true).set(inNs('z'), xa, true, ports('81/UDP')),
    );
  });

  it('an allow-all policy overrides a default deny', async () => {
    await check(
      [
        networkPolicy('x', 'deny-ingress', { podSelector: {}, policyTypes: ['Ingress'] }),
        networkPolicy('x', 'allow-all', { podSelector: {}, ingress: [{}] }),
      ],
      new Truth(),
    );
  });

  it('egress to a namespace on one port, from every pod of x', async () => {
    await check(
      [
        networkPolicy('x', 'egress-to-y-80', {
          podSelector: {},
          policyTypes: ['Egress'],
          egress: [{ to: [{ namespaceSelector: nsLabel('y') }], ports: [{ protocol: 'TCP', port: 80 }] }],
        }),
      ],
      new Truth().denyEgress(inNs('x')).set(inNs('x'), inNs('y'), true, ports('80/TCP')),
    );
  });

  it('egress and ingress policies both apply to one connection', async () => {
    await check(
      [
        networkPolicy('y', 'egress-only-to-xa', {
          podSelector: {},
          policyTypes: ['Egress'],
          egress: [{ to: [{ namespaceSelector: nsLabel('x'), podSelector: { matchLabels: { pod: 'a' } } }] }],
        }),
        networkPolicy('x', 'ingress-only-from-yb', {
          podSelector: { matchLabels: { pod: 'a' } },
          ingress: [{ from: [{ namespaceSelector: nsLabel('y'), podSelector: { matchLabels: { pod: 'b' } } }] }],
        }),
      ],
      new Truth().denyEgress(inNs('y')).set(inNs('y'), xa, true).denyIngress(xa).set(pods('y/b'), xa, true),
    );
  });

  it('matchExpressions: NotIn and Exists', async () => {
    await check(
      [
        networkPolicy('x', 'not-a', { podSelector: { matchExpressions: [{ key: 'pod', operator: 'NotIn', values: ['a'] }] }, policyTypes: ['Ingress'] }),
        networkPolicy('z', 'exists', {
          podSelector: { matchExpressions: [{ key: 'pod', operator: 'Exists' }] },
          ingress: [{ from: [{ podSelector: { matchExpressions: [{ key: 'pod', operator: 'In', values: ['a', 'b'] }] }, namespaceSelector: {} }] }],
        }),
      ],
      new Truth().denyIngress(pods('x/b', 'x/c')).denyIngress(inNs('z')).set(named('a', 'b'), inNs('z'), true),
    );
  });

  it('a pod label change moves the pod in and out of a selector', async () => {
    const policy = networkPolicy('x', 'from-b-anywhere', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ namespaceSelector: {}, podSelector: { matchLabels: { pod: 'b' } } }] }],
    });
    await check([policy], new Truth().denyIngress(xa).set(named('b'), xa, true));
    await check([policy], new Truth().denyIngress(xa).set(named('b'), xa, true).set(pods('z/c'), xa, true), [podManifest('z/c', { pod: 'b' })]);
    await check([policy], new Truth().denyIngress(xa).set(named('b'), xa, true), [podManifest('z/c')]);
  });

  it('a namespace label change moves its pods in and out of a namespaceSelector', async () => {
    const policy = networkPolicy('x', 'from-team-blue', {
      podSelector: { matchLabels: { pod: 'a' } },
      ingress: [{ from: [{ namespaceSelector: { matchLabels: { team: 'blue' } } }] }],
    });
    await check([policy], new Truth().denyIngress(xa));
    await check([policy], new Truth().denyIngress(xa).set(inNs('y'), xa, true), [namespaceManifest('y', { team: 'blue' })]);
    await check([policy], new Truth().denyIngress(xa), [namespaceManifest('y')]);
  });

  it('removing every policy allows everything again', async () => {
    await check([], new Truth());
    assert.ok(udp('80/UDP') && !udp('80/TCP'));
  });
});
