import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { labEtcdEndpoint } from '../../src/lab/etcd.ts';
import { hasCode } from '../../src/errors/mod.ts';
import { parsePodRef, targetNetns } from '../../src/lab/lab.ts';
import { LAB_PREFIX, planLab, podNetns } from '../../src/lab/plan.ts';
import type { LabState } from '../../src/lab/state.ts';
import { parsePortSpec, parseServeList } from '../../src/lab/serve.ts';

describe('lab plan', () => {
  test('hosts on the fabric, names and addresses from the options (on a machine with no networks in the way)', () => {
    const plan = planLab({ hosts: 3, router: false, ipv6: true }, []);
    assert.deepEqual(plan.hosts.map((h) => [h.name, h.netns, h.address, h.address6, h.segment]), [
      ['host-1', 'mgl-host-1', '192.0.2.11/24', '2001:db8::b/64', 'fabric'],
      ['host-2', 'mgl-host-2', '192.0.2.12/24', '2001:db8::c/64', 'fabric'],
      ['host-3', 'mgl-host-3', '192.0.2.13/24', '2001:db8::d/64', 'fabric'],
    ]);
    assert.equal(plan.router, undefined);
    assert.ok(plan.hosts.every((h) => h.gateway === undefined), 'no router: no gateway');
    assert.ok([plan.fabricNetns, ...plan.hosts.map((h) => h.netns)].every((n) => n.startsWith(LAB_PREFIX)));
  });

  test('with a router, the last host sits on the second segment behind it', () => {
    const plan = planLab({ hosts: 3, router: true, ipv6: false }, []);
    assert.deepEqual(plan.hosts.map((h) => [h.address, h.gateway, h.segment]), [
      ['192.0.2.11/24', '192.0.2.1', 'fabric'],
      ['192.0.2.12/24', '192.0.2.1', 'fabric'],
      ['198.51.100.13/24', '198.51.100.1', 'second'],
    ]);
    assert.equal(plan.router?.asNumber, 64513);
    assert.notEqual(plan.router?.asNumber, plan.asNumber, 'the router is an external peer');
    assert.deepEqual([plan.router?.fabricAddress, plan.router?.secondAddress], ['192.0.2.1/24', '198.51.100.1/24']);
  });

  test('on a machine whose uplink is 192.0.2.0/24, every address moves to the next free ranges', () => {
    const machine = [{ cidr: '192.0.2.0/24', what: 'eth0 address 192.0.2.2/24' }];
    const plan = planLab({ hosts: 3, router: true, ipv6: true }, machine);
    assert.deepEqual(plan.ranges, { fabric: '198.51.100.0/24', pool4: '10.244.0.0/16', second: '203.0.113.0/24', fabric6: '2001:db8::/64', pool6: 'fd00:10:244::/48', second6: '2001:db8:1::/64' });
    // Dual stack on both segments: the host behind the router has IPv6 too, with the router as its IPv6 gateway.
    assert.deepEqual(plan.hosts.map((h) => [h.address, h.gateway, h.address6, h.gateway6]), [
      ['198.51.100.11/24', '198.51.100.1', '2001:db8::b/64', '2001:db8::1'],
      ['198.51.100.12/24', '198.51.100.1', '2001:db8::c/64', '2001:db8::1'],
      ['203.0.113.13/24', '203.0.113.1', '2001:db8:1::d/64', '2001:db8:1::1'],
    ]);
    assert.deepEqual([plan.router?.fabricAddress, plan.router?.secondAddress], ['198.51.100.1/24', '203.0.113.1/24']);
    assert.deepEqual([plan.router?.fabricAddress6, plan.router?.secondAddress6], ['2001:db8::1/64', '2001:db8:1::1/64']);
  });

  test('bad options are refused with what is allowed', () => {
    assert.throws(() => planLab({ hosts: 0, router: false, ipv6: false }, []), /--hosts must be a whole number from 1 to 240/);
    assert.throws(() => planLab({ hosts: 2.5, router: false, ipv6: false }, []), /--hosts/);
    assert.throws(() => planLab({ hosts: 2, router: false, ipv6: false, etcdMembers: 2 }, []), /--etcd-members must be 1, 3, 5 or 7/);
    assert.equal(planLab({ hosts: 2, router: false, ipv6: false, etcdMembers: 3 }, []).options.etcdMembers, 3);
  });

  test('pod namespaces and etcd endpoints', () => {
    assert.equal(podNetns('shop', 'api'), 'mgl-pod-shop-api');
    assert.equal(labEtcdEndpoint('/run/lab'), 'unix:///run/lab/etcd/client.sock:0');
    assert.equal(labEtcdEndpoint('/run/lab', 3), 'unix:///run/lab/etcd/client-1.sock:0,unix:///run/lab/etcd/client-2.sock:0,unix:///run/lab/etcd/client-3.sock:0');
  });

  test('port lists', () => {
    assert.deepEqual(parseServeList('80/tcp,81/udp'), [{ port: 80, protocol: 'tcp' }, { port: 81, protocol: 'udp' }]);
    assert.deepEqual(parsePortSpec('53/UDP'), { port: 53, protocol: 'udp' });
    assert.deepEqual(parsePortSpec('80'), { port: 80, protocol: 'tcp' }, 'tcp by default');
    assert.throws(() => parsePortSpec('70000/tcp'), /PORT 1-65535/);
    assert.throws(() => parsePortSpec('80/icmp'), /PROTO tcp or udp/);
  });
});

describe('lab targets', () => {
  const state: LabState = { plan: planLab({ hosts: 2, router: false, ipv6: false }, []), etcdEndpoint: '', processes: [], pods: [], ready: true };
  state.pods.push({ namespace: 'shop', name: 'api', host: 'host-1', netns: 'mgl-pod-shop-api', containerId: 'c', addresses: ['10.244.0.1'], labels: {}, serve: [] });

  test('a host, a pod, or a clear refusal naming both', () => {
    assert.equal(targetNetns(state, 'host-2'), 'mgl-host-2');
    assert.equal(targetNetns(state, 'shop/api'), 'mgl-pod-shop-api');
    assert.throws(() => targetNetns(state, 'host-9'), (e: unknown) => hasCode(e, 'MARGAY_ERR_NOT_FOUND') && e.message === 'no host, router or pod "host-9" in the lab (hosts: host-1, host-2; pods: shop/api)');
    assert.throws(() => targetNetns(state, 'router'), /this lab has no router/);
    assert.throws(() => targetNetns(state, 'shop/web'), /no pod shop\/web in the lab/);
  });

  test('pod names follow Kubernetes rules', () => {
    assert.deepEqual(parsePodRef('shop/api'), { namespace: 'shop', name: 'api' });
    assert.deepEqual(parsePodRef('api.v2'), { namespace: 'default', name: 'api.v2' });
    assert.throws(() => parsePodRef('a/b/c'), /^MargayError: pod "a\/b\/c": expected NAMESPACE\/NAME$/);
    assert.throws(() => parsePodRef('shop/'), /pod "shop\/": name: a name is required/);
  });
});
