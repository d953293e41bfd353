/**
 * The BGP datastore view (resources + IPAM blocks → renderer input).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BgpView } from '../../src/bgp/view.ts';
import { node, res } from './helpers.ts';

const R = '/calico/resources/v3/projectcalico.org/';

function block(cidr: string, affinity: string | null, allocations: (number | null)[] = [], attributes: unknown[] = []): string {
  return JSON.stringify({ cidr, affinity, allocations, unallocated: [], attributes, sequenceNumber: 1700000000000000001, sequenceNumberForAllocation: {}, deleted: false });
}

describe('BgpView', () => {
  it('follows the BGP kinds and blocks; ignores everything else', () => {
    const v = new BgpView();
    assert.equal(v.onUpdate(`${R}nodes/h1`, JSON.stringify(node('h1', '192.0.2.11/24'))), true);
    assert.equal(v.onUpdate(`${R}ippools/p`, res('IPPool', 'p', { cidr: '10.244.0.0/16' })), true);
    assert.equal(v.onUpdate(`${R}workloadendpoints/ns/x`, '{}'), false);
    assert.equal(v.onUpdate('/calico/ipam/v2/host/h1/ipv4/block/10.244.1.0-26', '{}'), false);
    const g = v.generation;
    assert.equal(v.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-26', block('10.244.1.0/26', 'host:h1')), true);
    assert.equal(v.generation, g + 1);
    assert.deepEqual(v.affineBlocks('h1'), ['10.244.1.0/26']);
    const input = v.birdInput('h1');
    assert.deepEqual(input.nodes.map((n) => n.metadata.name), ['h1']);
    assert.deepEqual(input.affineBlocks, ['10.244.1.0/26']);
    v.onUpdate(`${R}nodes/h1`, undefined);
    v.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-26', undefined);
    assert.deepEqual(v.birdInput('h1').nodes, []);
    assert.deepEqual(v.affineBlocks('h1'), []);
  });

  it('borrowed addresses: allocations of another host in a block, inside an enabled pool', () => {
    const v = new BgpView();
    v.onUpdate(`${R}ippools/p`, res('IPPool', 'p', { cidr: '10.244.0.0/16' }));
    v.onUpdate(`${R}ippools/off`, res('IPPool', 'off', { cidr: '10.99.0.0/16', disabled: true }));
    const attrs = [
      { handle_id: 'k8s-pod-network.a', secondary: { node: 'h1', pod: 'a' } },
      { handle_id: 'k8s-pod-network.b', secondary: { node: 'h2', pod: 'b' } },
      { handle_id: null, secondary: { node: 'h2' }, releasedAt: '2026-11-26T00:00:00Z' },
    ];
    v.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-26', block('10.244.1.0/26', 'host:h1', [0, 1, 2, null], attrs));
    v.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.99.0.0-26', block('10.99.0.0/26', 'host:h1', [null, 1], attrs));
    v.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.9.0-26', block('10.244.9.0/26', null, [null, null, 1], attrs));
    assert.deepEqual(v.borrowedAddresses('h2'), ['10.244.1.1', '10.244.9.2'], 'cooling-down address and disabled pool left out');
    assert.deepEqual(v.borrowedAddresses('h1'), []);
    // A deleted block disappears.
    v.onUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-26', JSON.stringify({ ...JSON.parse(block('10.244.1.0/26', 'host:h1')), deleted: true }));
    assert.deepEqual(v.affineBlocks('h1'), ['10.99.0.0/26']);
  });
});
