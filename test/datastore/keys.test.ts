/** The key layout, written down once: the prefixes must read exactly as Calico's etcdv3 backend writes them. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import {
  FELIX_STATUS_PREFIX,
  IPAM_BLOCKS_PREFIX,
  IPAM_CONFIG_KEY,
  IPAM_HANDLES_PREFIX,
  IPAM_HOSTS_PREFIX,
  IPAM_PREFIX,
  LEADER_KEY,
  parseResourceKey,
  resourceKey,
  resourcePrefix,
  RESOURCES_PREFIX,
} from '../../src/datastore/keys.ts';

describe('datastore keys - layout', () => {
  it("uses Calico's prefixes", () => {
    assert.equal(RESOURCES_PREFIX, '/calico/resources/v3/projectcalico.org/');
    assert.equal(IPAM_PREFIX, '/calico/ipam/v2/');
    assert.equal(IPAM_BLOCKS_PREFIX, '/calico/ipam/v2/assignment/');
    assert.equal(IPAM_HOSTS_PREFIX, '/calico/ipam/v2/host/');
    assert.equal(IPAM_HANDLES_PREFIX, '/calico/ipam/v2/handle/');
    assert.equal(IPAM_CONFIG_KEY, '/calico/ipam/v2/config');
    assert.equal(FELIX_STATUS_PREFIX, '/calico/felix/v2/');
    assert.equal(LEADER_KEY, '/calico/margay/controllers/leader');
  });

  it('builds and parses resource keys, namespaced or not', () => {
    assert.equal(resourceKey('nodes', 'h1'), '/calico/resources/v3/projectcalico.org/nodes/h1');
    assert.equal(resourceKey('networkpolicies', 'allow', 'shop'), '/calico/resources/v3/projectcalico.org/networkpolicies/shop/allow');
    assert.equal(resourcePrefix('networkpolicies', 'shop'), '/calico/resources/v3/projectcalico.org/networkpolicies/shop/');
    assert.deepEqual(parseResourceKey(resourceKey('networkpolicies', 'allow', 'shop')), { plural: 'networkpolicies', namespace: 'shop', name: 'allow' });
    assert.deepEqual(parseResourceKey(resourceKey('nodes', 'h1')), { plural: 'nodes', name: 'h1' });
    assert.equal(parseResourceKey(`${IPAM_BLOCKS_PREFIX}ipv4/block/10.0.0.0-26`), undefined);
  });
});
