// Dispatcher and local-endpoint filter.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Dispatcher } from '../../src/calc/dispatcher.ts';
import { type EndpointData, workloadEndpointData } from '../../src/calc/endpoint-data.ts';
import { LocalEndpointFilter } from '../../src/calc/local-endpoint-filter.ts';
import { wep } from './helpers.ts';

describe('dispatcher', () => {
  it('routes v3 keys by plural with namespace and name from the key; IPAM blocks separately', () => {
    const d = new Dispatcher();
    const seen: string[] = [];
    d.register('networkpolicies', (ref, res) => seen.push(`np ${ref.namespace}/${ref.name} ${res === undefined ? 'delete' : res.kind}`));
    d.register('tiers', (ref, res) => seen.push(`tier ${ref.name} ${res === undefined ? 'delete' : 'update'}`));
    d.registerBlocks((key, block) => seen.push(`block ${key.split('/').pop()} ${block === undefined ? 'delete' : 'update'}`));
    assert.equal(d.dispatch('/calico/resources/v3/projectcalico.org/networkpolicies/ns1/p1', { kind: 'NetworkPolicy' }), true);
    assert.equal(d.dispatch('/calico/resources/v3/projectcalico.org/tiers/default', undefined), true);
    assert.equal(d.dispatch('/calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26', { cidr: '10.0.0.0/26' }), true);
    assert.equal(d.dispatch('/calico/resources/v3/projectcalico.org/stagednetworkpolicies/ns1/p1', {}), false);
    assert.equal(d.dispatch('/calico/ipam/v2/handle/k8s-pod-network.abc', {}), false);
    assert.equal(d.dispatch('/unrelated', {}), false);
    assert.deepEqual(seen, ['np ns1/p1 NetworkPolicy', 'tier default delete', 'block 10.0.0.0-26 update']);
  });
});

describe('local-endpoint filter', () => {
  const record = () => {
    const events: string[] = [];
    return {
      events,
      sink: (tag: string) => ({ onEndpointUpdate: (id: string, ep: EndpointData | undefined) => events.push(`${tag} ${id} ${ep === undefined ? 'delete' : ep.node}`) }),
    };
  };
  const ep = (node: string) => workloadEndpointData('a', 'w', wep('a', 'w', { node, ips: ['10.0.0.1'] }));

  it('sends every endpoint to all-consumers and this host’s to local-consumers', () => {
    const { events, sink } = record();
    const f = new LocalEndpointFilter('node-1', 'local', [sink('all')], [sink('local')]);
    f.onEndpointUpdate('wep/a/w', ep('node-2'));
    f.onEndpointUpdate('wep/a/w', ep('node-1'));
    assert.equal(f.localCount, 1);
    f.onEndpointUpdate('wep/a/w', ep('node-3'));
    f.onEndpointUpdate('wep/a/w', undefined);
    assert.deepEqual(events, [
      'all wep/a/w node-2',
      'all wep/a/w node-1',
      'local wep/a/w node-1',
      'all wep/a/w node-3',
      'local wep/a/w delete',
      'all wep/a/w delete',
    ]);
    assert.equal(f.localCount, 0);
  });

  it("mode 'all' treats every endpoint as local", () => {
    const { events, sink } = record();
    const f = new LocalEndpointFilter('', 'all', [], [sink('local')]);
    f.onEndpointUpdate('wep/a/w', ep('node-7'));
    f.onEndpointUpdate('wep/a/w', undefined);
    assert.deepEqual(events, ['local wep/a/w node-7', 'local wep/a/w delete']);
  });
});
