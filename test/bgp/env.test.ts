import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { defaultPoolsFromEnv, registrationFromEnv } from '../../src/bgp/env.ts';
import { hasCode } from '../../src/errors/mod.ts';

describe('calico/node environment variables', () => {
  test('registration takes only what is set', () => {
    assert.deepEqual(registrationFromEnv({}), {});
    assert.deepEqual(registrationFromEnv({ IP: 'autodetect', IP6: 'autodetect', IP_AUTODETECTION_METHOD: 'interface=eth0', IP6_AUTODETECTION_METHOD: 'cidr=2001:db8::/64', AS: '64513' }), {
      ip: 'autodetect',
      ip6: 'autodetect',
      ipAutodetectionMethod: 'interface=eth0',
      ip6AutodetectionMethod: 'cidr=2001:db8::/64',
      asNumber: '64513',
    });
    assert.deepEqual(registrationFromEnv({ IP: '  ' }), {}, 'blank is unset');
    assert.deepEqual(registrationFromEnv({ CALICO_K8S_NODE_REF: 'worker-1' }), { kubernetesNodeRef: 'worker-1' });
  });

  test('default pools: IPv6 only when IP6 is set and not none; every pool variable read', () => {
    assert.deepEqual(defaultPoolsFromEnv({}), {});
    assert.deepEqual(defaultPoolsFromEnv({ IP6: 'none' }), {});
    assert.deepEqual(defaultPoolsFromEnv({ IP6: 'autodetect', CALICO_IPV6POOL_CIDR: 'fd00:1::/48', CALICO_IPV6POOL_BLOCK_SIZE: '122' }), { ipv6: true, ipv6Cidr: 'fd00:1::/48', ipv6BlockSize: 122 });
    assert.deepEqual(
      defaultPoolsFromEnv({ NO_DEFAULT_POOLS: 'true', CALICO_IPV4POOL_CIDR: '10.0.0.0/16', CALICO_IPV4POOL_BLOCK_SIZE: '24', CALICO_IPV4POOL_NAT_OUTGOING: 'false', CALICO_IPV4POOL_VXLAN: 'crosssubnet', CALICO_IPV4POOL_NODE_SELECTOR: 'zone == "a"' }),
      { noDefaultPools: true, ipv4Cidr: '10.0.0.0/16', ipv4BlockSize: 24, ipv4NatOutgoing: false, ipv4VxlanMode: 'CrossSubnet', ipv4NodeSelector: 'zone == "a"' },
    );
  });

  test('bad values name the variable and what is allowed', () => {
    assert.throws(() => defaultPoolsFromEnv({ CALICO_IPV4POOL_BLOCK_SIZE: '33' }), /CALICO_IPV4POOL_BLOCK_SIZE=33: allowed a whole number from 20 to 32/);
    assert.throws(() => defaultPoolsFromEnv({ CALICO_IPV6POOL_VXLAN: 'Sometimes' }), /CALICO_IPV6POOL_VXLAN=Sometimes: allowed Never, Always, CrossSubnet/);
    assert.throws(() => defaultPoolsFromEnv({ NO_DEFAULT_POOLS: 'maybe' }), /NO_DEFAULT_POOLS=maybe: allowed true or false/);
    // Autodetection methods are checked when read, not first at registration.
    assert.throws(() => registrationFromEnv({ IP_AUTODETECTION_METHOD: 'bogus' }), (e: unknown) => hasCode(e, 'MARGAY_ERR_CONFIG') && /^IP_AUTODETECTION_METHOD="bogus": /.test(e.message));
    assert.throws(() => registrationFromEnv({ IP6_AUTODETECTION_METHOD: 'interface=[' }), (e: unknown) => hasCode(e, 'MARGAY_ERR_CONFIG') && /^IP6_AUTODETECTION_METHOD="interface=\[": "\[" is not a valid/.test(e.message));
  });
});
