/**
 * Acceptance (issue 15): Kubernetes' standard NetworkPolicy model in a 3-host lab with a real
 * control plane. Namespaces x, y, z and pods a, b, c (named ports serve-80-tcp, serve-81-tcp,
 * serve-80-udp, serve-81-udp) are created with kubectl and run by the hosts' real kubelets and
 * containerds through Margay's CNI plugin; NetworkPolicies and label changes go in with kubectl and
 * reach etcd through `margay kube-controllers`. For every case three answers must be the same: the
 * hand-written Kubernetes expectation, `policy matrix` from the datastore, and probes of every pair
 * over the real dataplane (most pairs cross hosts over BGP-learned routes).
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { labDown, labUp } from '../../src/lab/lab.ts';
import { Truth } from '../agent/k8s-model.ts';
import { casesFor, LABEL_CASES, modelCases } from '../agent/k8s-model-cases.ts';
import { createModel, expectReachability, kubeLabContext, relabel, setPolicies } from './kube-lab.ts';
import type { LabState } from '../../src/lab/state.ts';

const ctx = kubeLabContext('margay-lab-kube-model-');
let state: LabState;

describe('lab --kubernetes - the NetworkPolicy model from kubectl, run by real kubelets on three hosts', () => {
  before(async () => {
    await labUp({ hosts: 3, router: false, ipv6: false, kubernetes: true }, ctx);
    state = await createModel(ctx);
  });
  after(async () => {
    await labDown(ctx);
  });

  const net = {
    podIp: (key: string) => state.pods.find((p) => `${p.namespace}/${p.name}` === key)!.addresses[0]!,
    get poolCidr() {
      return state.plan.ranges.pool4;
    },
  };

  it('every pod runs on the host it was placed on, with an address from the pool', () => {
    assert.equal(state.pods.length, 9);
    assert.deepEqual(new Set(state.pods.map((p) => p.host)), new Set(state.plan.hosts.map((h) => h.name)));
  });

  // Kubernetes 1.20 has no NetworkPolicy endPort: that case needs a newer API server.
  for (const c of casesFor(modelCases(net), ['named-ports'])) {
    it(c.name, async () => {
      await setPolicies(ctx, c.policies());
      await expectReachability(ctx, c.truth());
    });
  }

  for (const c of LABEL_CASES) {
    it(`${c.name} (kubectl label)`, async () => {
      await setPolicies(ctx, [c.policy]);
      await expectReachability(ctx, c.truth());
      for (const step of c.steps) {
        await relabel(ctx, step.change.kind, step.change.key, step.change.labels);
        await expectReachability(ctx, step.truth());
      }
    });
  }

  it('removing every policy with kubectl allows everything again', async () => {
    await setPolicies(ctx, []);
    await expectReachability(ctx, new Truth());
  });
});
