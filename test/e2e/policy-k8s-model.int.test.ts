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
import { namespaceManifest, NAMESPACES, NODE, podInterface, podIp, podManifest, PODS, PORTS, Truth, udp } from '../agent/k8s-model.ts';
import { LABEL_CASES, type LabelStep, modelCases } from '../agent/k8s-model-cases.ts';

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

  for (const c of modelCases({ podIp, poolCidr: '10.244.0.0/16' })) {
    it(c.name, async () => {
      await check(c.policies(), c.truth());
    });
  }

  /** A label change as a manifest the CLI applies (the whole object, with its new labels). */
  const relabelled = ({ change }: LabelStep): object =>
    change.kind === 'pod' ? podManifest(change.key, change.labels) : namespaceManifest(change.key, change.labels);

  for (const c of LABEL_CASES) {
    it(c.name, async () => {
      await check([c.policy], c.truth());
      for (const step of c.steps) await check([c.policy], step.truth(), [relabelled(step)]);
    });
  }

  it('removing every policy allows everything again', async () => {
    await check([], new Truth());
    assert.ok(udp('80/UDP') && !udp('80/TCP'));
  });
});
