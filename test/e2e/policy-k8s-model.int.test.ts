/**
 * Acceptance: Kubernetes' standard NetworkPolicy test model (namespaces x, y, z; pods a, b, c;
 * TCP and UDP on 80 and 81 with named ports) behind veths in one host namespace, programmed by a
 * real agent from a real etcd. Manifests (v1 Namespace, v1 Pod, networking.k8s.io/v1
 * NetworkPolicy) go in through the real CLI. For every case, three answers must be the same:
 * the hand-written Kubernetes expectation, `margay policy matrix` against the datastore, and
 * probes of every pair over the real dataplane.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { usePolicySuite } from '../agent/policy-check.ts';
import {
  inNs,
  named,
  namespaceManifest,
  NAMESPACES,
  networkPolicy,
  NODE,
  podInterface,
  podIp,
  podManifest,
  PODS,
  pods,
  PORTS,
  Truth,
  udp,
} from '../agent/k8s-model.ts';
import { MODEL_CASES } from '../agent/k8s-model-cases.ts';

describe('policy: the Kubernetes NetworkPolicy test model', () => {
  const suite = usePolicySuite({
    dirPrefix: 'margay-k8s-model-',
    pods: PODS,
    ports: PORTS,
    node: NODE,
    plumbing: (key) => ({ hostInterface: podInterface(key), ip: podIp(key) }),
    manifests: [...NAMESPACES.map((ns) => namespaceManifest(ns)), ...PODS.map((k) => podManifest(k))],
  });

  /**
   * One case: (optionally) apply `setup` (pods or namespaces with new labels), make `policies` the
   * whole set of NetworkPolicies, then check the matrix and the probes against `expected`.
   */
  async function check(policies: object[], expected: Truth, setup?: object[]): Promise<void> {
    if (setup) await suite.checker.cli(['apply'], setup);
    await suite.checker.check(policies, expected);
  }

  const xa = pods('x/a');

  for (const c of MODEL_CASES) {
    it(c.name, async () => {
      await check(c.policies, c.truth());
    });
  }

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
