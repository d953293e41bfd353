import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';
import { parseNetConf } from '../../src/cni/config.ts';
import { vethNameForContainer, workloadIdentity } from '../../src/cni/identity.ts';
import { parseRequest } from '../../src/cni/request.ts';
import { CniError } from '../../src/cni/spec.ts';

const conf = parseNetConf(JSON.stringify({ cniVersion: '1.0.0', name: 'k8s-pod-network', type: 'margay', namespace: 'apps' }));
const req = (args: string, containerId = 'f00dcafe', ifname = 'eth0') =>
  parseRequest({ CNI_COMMAND: 'ADD', CNI_CONTAINERID: containerId, CNI_NETNS: '/run/netns/x', CNI_IFNAME: ifname, CNI_ARGS: args }, '{}');

describe('cni identity - naming', () => {
  it('a pod: k8s orchestrator, Calico veth name, handle <network>.<containerID>', () => {
    const id = workloadIdentity(req('IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0'), conf, 'node-1');
    assert.equal(id.orchestrator, 'k8s');
    assert.equal(id.namespace, 'shop');
    assert.equal(id.wepName, 'node--1-k8s-web--0-eth0');
    const digest = createHash('sha1').update('shop.web-0').digest('hex').slice(0, 11);
    assert.equal(id.hostVeth, `cali${digest}`);
    assert.equal(id.handle, 'k8s-pod-network.f00dcafe');
  });
  it('a second interface of the same pod gets its own veth', () => {
    const a = workloadIdentity(req('K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0'), conf, 'n');
    const b = workloadIdentity(req('K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0', 'f00dcafe', 'net1'), conf, 'n');
    assert.notEqual(a.hostVeth, b.hostVeth);
    assert.equal(b.wepName, 'n-k8s-web--0-net1');
  });
  it('a plain container: cni orchestrator, workload = container ID, namespace from the configuration', () => {
    const id = workloadIdentity(req('IgnoreUnknown=1;K8S_POD_NAME=c1', 'default-ctr1'), conf, 'node1');
    assert.equal(id.orchestrator, 'cni');
    assert.equal(id.workload, 'default-ctr1');
    assert.equal(id.namespace, 'apps');
    assert.equal(id.wepName, 'node1-cni-default--ctr1-eth0');
    assert.equal(id.hostVeth, vethNameForContainer('default-ctr1', 'eth0'));
    assert.match(id.hostVeth, /^cali[0-9a-f]{11}$/);
  });
  it('container IDs sharing a prefix get different veths', () => {
    assert.notEqual(vethNameForContainer('default-ctr1', 'eth0'), vethNameForContainer('default-ctr2', 'eth0'));
  });
  it('the interface prefix is configurable', () => {
    assert.match(vethNameForContainer('x', 'eth0', 'tap,cali'), /^tap[0-9a-f]{11}$/);
  });
  it('a part that cannot be named is 7', () => {
    assert.throws(
      () => workloadIdentity(req('K8S_POD_NAMESPACE=shop;K8S_POD_NAME=-bad'), conf, 'n'),
      (e: unknown) => e instanceof CniError && e.code === 7,
    );
  });
});
