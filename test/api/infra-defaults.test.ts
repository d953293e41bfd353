/**
 * Calico's defaults for the infrastructure kinds, pool overlap and immutable fields, the
 * calicoctl aliases and the `get -o ps|wide` columns.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { findKind, kindByExactName } from '../../src/api/kinds/mod.ts';
import type { Resource } from '../../src/api/resource.ts';
import { checkImmutableFields, validateResource } from '../../src/api/validate.ts';

function res(kind: string, name: string, spec: Record<string, unknown>, extra: Record<string, unknown> = {}): Resource {
  return validateResource({ apiVersion: 'projectcalico.org/v3', kind, metadata: { name }, spec, ...extra });
}

function def(kind: string) {
  const d = kindByExactName(kind);
  assert.ok(d, kind);
  return d;
}

describe('IPPool defaults', () => {
  it('fills blockSize 26, encapsulation Never, all() nodes, Workload+Tunnel, Automatic for IPv4', () => {
    const pool = res('IPPool', 'p', { cidr: '10.0.0.0/16' });
    assert.deepEqual(pool.spec, {
      cidr: '10.0.0.0/16', blockSize: 26, ipipMode: 'Never', vxlanMode: 'Never', nodeSelector: 'all()',
      allowedUses: ['Workload', 'Tunnel'], assignmentMode: 'Automatic',
    });
  });
  it('uses blockSize 122 for IPv6 and normalises the CIDR text', () => {
    const pool = res('IPPool', 'p6', { cidr: 'FD00:0:0::/48' });
    assert.equal(pool.spec?.cidr, 'fd00::/48');
    assert.equal(pool.spec?.blockSize, 122);
  });
  it('keeps what was written', () => {
    // (A LoadBalancer pool must have nodeSelector all() since Calico 3.32, so this one serves workloads.)
    const pool = res('IPPool', 'p', { cidr: '192.210.0.0/20', blockSize: 24, allowedUses: ['Workload'], assignmentMode: 'Manual', nodeSelector: '!all()' });
    assert.equal(pool.spec?.blockSize, 24);
    assert.deepEqual(pool.spec?.allowedUses, ['Workload']);
    assert.equal(pool.spec?.assignmentMode, 'Manual');
    assert.equal(pool.spec?.nodeSelector, '!all()');
  });
  it('checks the pool size against a written block size', () => {
    assert.throws(() => res('IPPool', 'p', { cidr: '10.0.0.0/24', blockSize: 20 }), /spec\.cidr: IP pool size is too small/);
    assert.doesNotThrow(() => res('IPPool', 'p', { cidr: '10.0.0.0/24', blockSize: 24 }));
  });
  it('names the offending field in the message', () => {
    assert.throws(() => res('IPPool', 'p', { cidr: '10.0.0.1/16' }), /spec\.cidr: IP pool CIDR is not strictly masked \(did you mean 10\.0\.0\.0\/16\?\)/);
  });
});

describe('IPPool overlap (validateAgainst)', () => {
  const ippool = def('IPPool');
  const a = res('IPPool', 'a', { cidr: '10.0.0.0/16' });
  it('rejects a pool inside another pool', () => {
    const b = res('IPPool', 'b', { cidr: '10.0.128.0/24' });
    const issues = ippool.validateAgainst!(b, [a]);
    assert.equal(issues.length, 1);
    assert.equal(issues[0]!.path, 'spec.cidr');
    assert.match(issues[0]!.message, /IPPool\(b\) CIDR overlaps with IPPool\(a\) CIDR 10\.0\.0\.0\/16/);
  });
  it('rejects a pool that contains another pool', () => {
    const b = res('IPPool', 'b', { cidr: '10.0.0.0/8' });
    assert.equal(ippool.validateAgainst!(b, [a]).length, 1);
  });
  it('accepts disjoint pools and pools of the other family', () => {
    assert.deepEqual(ippool.validateAgainst!(res('IPPool', 'c', { cidr: '10.1.0.0/16' }), [a]), []);
    assert.deepEqual(ippool.validateAgainst!(res('IPPool', 'd', { cidr: 'fd00::/48' }), [a]), []);
  });
  it('ignores a pool of the same name (an update of itself)', () => {
    assert.deepEqual(ippool.validateAgainst!(res('IPPool', 'a', { cidr: '10.0.0.0/15' }), [a]), []);
  });
});

describe('IPPool immutable fields', () => {
  const ippool = def('IPPool');
  const before = res('IPPool', 'a', { cidr: '10.0.0.0/16' });
  it('cidr cannot change', () => {
    const issues = checkImmutableFields(ippool, before, res('IPPool', 'a', { cidr: '10.1.0.0/16' }));
    assert.deepEqual(issues.map((i) => i.path), ['spec.cidr']);
  });
  it('blockSize cannot change, even from the default', () => {
    const issues = checkImmutableFields(ippool, before, res('IPPool', 'a', { cidr: '10.0.0.0/16', blockSize: 24 }));
    assert.deepEqual(issues.map((i) => i.path), ['spec.blockSize']);
  });
  it('other fields may change, and an equivalent CIDR text is the same CIDR', () => {
    assert.deepEqual(checkImmutableFields(ippool, before, res('IPPool', 'a', { cidr: '10.0.0.0/16', natOutgoing: true, blockSize: 26 })), []);
  });
});

describe('other defaults', () => {
  it('BGPConfiguration gets the CRD defaults and a numeric AS number', () => {
    const cfg = res('BGPConfiguration', 'default', { asNumber: '1.10', nodeToNodeMeshEnabled: false });
    assert.deepEqual(cfg.spec, {
      asNumber: 65546, nodeToNodeMeshEnabled: false, logSeverityScreen: 'Info',
      serviceLoadBalancerAggregation: 'Enabled', programClusterRoutes: 'EnabledNoEncapOnly',
    });
  });
  it('BGPPeer AS numbers are stored as numbers', () => {
    const peer = res('BGPPeer', 'p', { peerIP: '192.0.2.1', asNumber: '64512', localASNumber: '0.100' });
    assert.equal(peer.spec?.asNumber, 64512);
    assert.equal(peer.spec?.localASNumber, 100);
  });
  it('IPAMConfiguration defaults strictAffinity false, autoAllocateBlocks true and maxBlocksPerHost 0 (the CRD defaults)', () => {
    assert.deepEqual(res('IPAMConfiguration', 'default', {}).spec, { strictAffinity: false, autoAllocateBlocks: true, maxBlocksPerHost: 0 });
  });
  it('KubeControllersConfiguration defaults healthChecks and controllers', () => {
    const kcc = res('KubeControllersConfiguration', 'default', { controllers: { loadBalancer: {} } });
    assert.deepEqual(kcc.spec, { healthChecks: 'Enabled', controllers: { loadBalancer: { assignIPs: 'AllServices' } } });
    assert.deepEqual(res('KubeControllersConfiguration', 'default', {}).spec, { healthChecks: 'Enabled', controllers: {} });
  });
  it('FelixConfiguration defaults nftablesMode to Auto', () => {
    assert.equal(res('FelixConfiguration', 'default', {}).spec?.nftablesMode, 'Auto');
    assert.equal(res('FelixConfiguration', 'default', { nftablesMode: 'Enabled' }).spec?.nftablesMode, 'Enabled');
  });
  it('Node AS numbers are stored as numbers', () => {
    assert.equal((res('Node', 'n1', { bgp: { asNumber: '64513', ipv4Address: '192.0.2.1/24' } }).spec?.bgp as { asNumber: unknown }).asNumber, 64513);
  });
});

describe('names', () => {
  for (const kind of ['IPAMConfiguration', 'KubeControllersConfiguration', 'ClusterInformation']) {
    it(`${kind} must be named default`, () => {
      assert.throws(() => res(kind, 'other', {}), /metadata\.name: .*must be named "default"/);
      assert.doesNotThrow(() => res(kind, 'default', {}));
    });
  }
  it('FelixConfiguration and BGPConfiguration accept default and node.<name>', () => {
    assert.doesNotThrow(() => res('FelixConfiguration', 'node.my-node', {}));
    assert.doesNotThrow(() => res('BGPConfiguration', 'node.my-node', { listenPort: 178 }));
  });
  it('cluster-scoped kinds take no namespace', () => {
    assert.throws(
      () => validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'p', namespace: 'x' }, spec: { cidr: '10.0.0.0/16' } }),
      /metadata\.namespace/,
    );
  });
});

describe('status', () => {
  it('Node status may carry WireGuard keys and pod CIDRs', () => {
    const node = res('Node', 'n1', {}, { status: { wireguardPublicKey: 'jlkVyQYooZYzI2wFfNhSZez5eWh44yfq1wKVjLvSXgY=', podCIDRs: ['10.244.0.0/24'] } });
    assert.equal(node.status?.wireguardPublicKey, 'jlkVyQYooZYzI2wFfNhSZez5eWh44yfq1wKVjLvSXgY=');
  });
  it('CalicoNodeStatus status follows the Calico types', () => {
    const status = { lastUpdated: '2024-01-01T00:00:00Z', agent: { birdV4: { state: 'Ready', version: 'v0.3.3' } }, bgp: { numberEstablishedV4: 1, numberNotEstablishedV4: 0, numberEstablishedV6: 0, numberNotEstablishedV6: 0, peersV4: [{ peerIP: '192.0.2.2', type: 'NodeMesh', state: 'Established', since: '09:19:28' }] } };
    assert.doesNotThrow(() => res('CalicoNodeStatus', 's', { node: 'n1', classes: ['BGP'], updatePeriodSeconds: 10 }, { status }));
    assert.throws(() => res('CalicoNodeStatus', 's', { node: 'n1', classes: ['BGP'], updatePeriodSeconds: 10 }, { status: { bgp: { peersV4: [{ state: 'Up' }] } } }), /status\.bgp\.peersV4\[0\]\.state/);
  });
  it('IPPool has no writable status', () => {
    assert.throws(() => res('IPPool', 'p', { cidr: '10.0.0.0/16' }, { status: {} }), /status/);
  });
});

describe('calicoctl aliases', () => {
  const cases: [string, string][] = [
    ['ippool', 'IPPool'], ['ippools', 'IPPool'], ['ipp', 'IPPool'], ['ipps', 'IPPool'], ['pool', 'IPPool'], ['pools', 'IPPool'],
    ['ipreservation', 'IPReservation'], ['reservations', 'IPReservation'],
    ['bgpconfiguration', 'BGPConfiguration'], ['bgpconfig', 'BGPConfiguration'], ['bgpconfigs', 'BGPConfiguration'],
    ['bgppeer', 'BGPPeer'], ['bgpp', 'BGPPeer'], ['bps', 'BGPPeer'],
    ['bgpfilter', 'BGPFilter'], ['bgpf', 'BGPFilter'], ['bfs', 'BGPFilter'],
    ['felixconfiguration', 'FelixConfiguration'], ['felixconfig', 'FelixConfiguration'], ['felixconfigs', 'FelixConfiguration'],
    ['node', 'Node'], ['nodes', 'Node'], ['no', 'Node'], ['nos', 'Node'],
    ['caliconodestatus', 'CalicoNodeStatus'], ['nodestatus', 'CalicoNodeStatus'], ['nodestatuses', 'CalicoNodeStatus'],
    ['clusterinformation', 'ClusterInformation'], ['clusterinfo', 'ClusterInformation'],
    ['ipamconfiguration', 'IPAMConfiguration'], ['ipamconfig', 'IPAMConfiguration'], ['ipamconfigs', 'IPAMConfiguration'],
    ['kubecontrollersconfiguration', 'KubeControllersConfiguration'], ['kubecontrollersconfig', 'KubeControllersConfiguration'],
    ['IPPools', 'IPPool'],
  ];
  for (const [alias, kind] of cases) {
    it(`${alias} → ${kind}`, () => assert.equal(findKind(alias)?.kind, kind));
  }
});

describe('get -o ps / wide columns', () => {
  function table(kind: string, r: Resource, wide = false): Record<string, string> {
    const d = def(kind);
    const cols = wide ? [...d.columns, ...d.wideColumns] : d.columns;
    return Object.fromEntries(cols.map((c) => [c.header, c.value(r)]));
  }
  it('IPPool: CIDR SELECTOR, wide adds NAT IPIPMODE VXLANMODE DISABLED DISABLEBGPEXPORT', () => {
    const pool = res('IPPool', 'p', { cidr: '10.0.0.0/16', natOutgoing: true, vxlanMode: 'Always' });
    assert.deepEqual(table('IPPool', pool), { CIDR: '10.0.0.0/16', SELECTOR: 'all()' });
    assert.deepEqual(table('IPPool', pool, true), {
      CIDR: '10.0.0.0/16', SELECTOR: 'all()', NAT: 'true', IPIPMODE: 'Never', VXLANMODE: 'Always', DISABLED: 'false', DISABLEBGPEXPORT: 'false',
    });
  });
  it('BGPPeer: PEERIP NODE ASN, NODE is the node, the selector or (global)', () => {
    assert.deepEqual(table('BGPPeer', res('BGPPeer', 'a', { node: 'rack1-host1', peerIP: '192.168.1.1', asNumber: 63400 })), { PEERIP: '192.168.1.1', NODE: 'rack1-host1', ASN: '63400' });
    assert.equal(table('BGPPeer', res('BGPPeer', 'b', { nodeSelector: "rack == 'rack-1'", peerIP: '192.20.30.40', asNumber: 64567 })).NODE, "rack == 'rack-1'");
    assert.equal(table('BGPPeer', res('BGPPeer', 'c', { peerIP: '192.20.30.40', asNumber: 64567 })).NODE, '(global)');
  });
  it('Node: NAME only, wide adds ASN IPV4 IPV6', () => {
    const node = res('Node', 'n1', { bgp: { ipv4Address: '192.0.2.11/24' } });
    assert.deepEqual(table('Node', node), {});
    assert.deepEqual(table('Node', node, true), { ASN: '(64512)', IPV4: '192.0.2.11/24', IPV6: '' });
  });
  it('BGPConfiguration: LOGSEVERITY MESHENABLED ASNUMBER', () => {
    assert.deepEqual(table('BGPConfiguration', res('BGPConfiguration', 'default', { nodeToNodeMeshEnabled: false, asNumber: 63400 })), { LOGSEVERITY: 'Info', MESHENABLED: 'false', ASNUMBER: '63400' });
    assert.deepEqual(table('BGPConfiguration', res('BGPConfiguration', 'node.x', {})), { LOGSEVERITY: 'Info', MESHENABLED: '-', ASNUMBER: '-' });
  });
  it('IPReservation wide CIDRS is joined and truncated to 80 characters', () => {
    const many = Array.from({ length: 20 }, (_, i) => `10.0.${i}.0/24`);
    const cell = table('IPReservation', res('IPReservation', 'r', { reservedCIDRs: many }), true).CIDRS!;
    assert.equal(cell.length, 80);
    assert.ok(cell.endsWith('...'));
  });
  it('IPAMConfiguration and CalicoNodeStatus', () => {
    assert.deepEqual(table('IPAMConfiguration', res('IPAMConfiguration', 'default', { maxBlocksPerHost: 4 }), true), { STRICTAFFINITY: 'false', AUTOALLOCATEBLOCKS: 'true', MAXBLOCKSPERHOST: '4' });
    assert.deepEqual(table('CalicoNodeStatus', res('CalicoNodeStatus', 's', { node: 'n1', classes: ['Agent', 'BGP'], updatePeriodSeconds: 10 }), true), { NODE: 'n1', CLASSES: 'Agent,BGP' });
  });
  it('BGPFilter: NUMEXPORT NUMIMPORT', () => {
    const f = res('BGPFilter', 'f', { exportV4: [{ action: 'Accept' }], exportV6: [{ action: 'Reject' }], importV4: [{ action: 'Accept' }] });
    assert.deepEqual(table('BGPFilter', f), { NUMEXPORT: '2', NUMIMPORT: '1' });
  });
});
