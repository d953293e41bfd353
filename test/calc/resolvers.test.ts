// Route resolver and settings resolver.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workloadEndpointData } from '../../src/calc/endpoint-data.ts';
import type { DataplaneSettings } from '../../src/calc/model.ts';
import { RouteResolver } from '../../src/calc/route-resolver.ts';
import { workloadPlan } from '../../src/calc/endpoint-plan.ts';
import { defaultConfig } from '../../src/api/felix-params.ts';
import { SettingsResolver } from '../../src/calc/settings-resolver.ts';
import { wep } from './helpers.ts';

function routes() {
  const events: string[] = [];
  const r = new RouteResolver('node-1', {
    onRouteUpdate: (route) => events.push(`+ ${route.type} ${route.dst}${route.type === 'workload' ? ` ${route.interfaceName}` : ''}`),
    onRouteRemove: (dst) => events.push(`- ${dst}`),
  });
  return { r, events };
}

const BLOCK = '/calico/ipam/v2/assignment/ipv4/block/10.244.1.0-26';

describe('route resolver', () => {
  it('routes each local workload address through its interface', () => {
    const { r, events } = routes();
    r.onEndpointUpdate('wep/a/w1', workloadEndpointData('a', 'w1', wep('a', 'w1', { ips: ['10.244.1.5', 'fd00:10:244::5'], iface: 'caliA' })));
    assert.deepEqual(events, ['+ workload 10.244.1.5/32 caliA', '+ workload fd00:10:244::5/128 caliA']);
    events.length = 0;
    r.onEndpointUpdate('wep/a/w1', workloadEndpointData('a', 'w1', wep('a', 'w1', { ips: ['10.244.1.6'], iface: 'caliA' })));
    assert.deepEqual(events, ['- 10.244.1.5/32', '- fd00:10:244::5/128', '+ workload 10.244.1.6/32 caliA']);
    events.length = 0;
    r.onEndpointUpdate('wep/a/w1', undefined);
    assert.deepEqual(events, ['- 10.244.1.6/32']);
  });

  it('routes the floating IPs (ipNATs) of OpenStack workloads to them, and keeps them in the plan', () => {
    const { r, events } = routes();
    const withNats = (orchestrator: string) => {
      const res = wep('a', 'w1', { ips: ['10.244.1.5'], iface: 'tapA' });
      Object.assign(res.spec as object, {
        orchestrator,
        ipNATs: [
          { internalIP: '10.244.1.5', externalIP: '203.0.113.9' },
          { internalIP: '10.9.9.9', externalIP: '203.0.113.8' }, // not the endpoint's own address: ignored
          { internalIP: '10.244.1.5', externalIP: '2001:db8::9' }, // mixed families: ignored
        ],
      });
      return workloadEndpointData('a', 'w1', res);
    };
    const os = withNats('openstack');
    assert.deepEqual(os.nats, [{ internal: '10.244.1.5', external: '203.0.113.9' }]);
    assert.deepEqual(workloadPlan(os, []).nats, [{ internal: '10.244.1.5', external: '203.0.113.9' }]);
    r.onEndpointUpdate('wep/a/w1', os);
    assert.deepEqual(events, ['+ workload 10.244.1.5/32 tapA', '+ workload 203.0.113.9/32 tapA']);
    // Felix programs other orchestrators' NATs only with FloatingIPs: Enabled (not acted on).
    const k8s = withNats('k8s');
    assert.equal(k8s.nats, undefined);
    assert.equal(workloadPlan(k8s, []).nats, undefined);
    events.length = 0;
    r.onEndpointUpdate('wep/a/w1', k8s);
    assert.deepEqual(events, ['- 203.0.113.9/32']);
  });

  it('blackholes blocks affine to this host only, and not /32 blocks or deleted ones', () => {
    const { r, events } = routes();
    r.onBlockUpdate(BLOCK, { cidr: '10.244.1.0/26', affinity: 'host:node-1', allocations: [], unallocated: [] } as never);
    r.onBlockUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.2.0-26', { cidr: '10.244.2.0/26', affinity: 'host:node-2' });
    r.onBlockUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.3.7-32', { cidr: '10.244.3.7/32', affinity: 'host:node-1' });
    r.onBlockUpdate('/calico/ipam/v2/assignment/ipv6/block/fd00:10:244::-122', { cidr: 'fd00:10:244::/122', affinity: 'host:node-1' });
    r.onBlockUpdate('/calico/ipam/v2/assignment/ipv4/block/10.244.4.0-26', { cidr: '10.244.4.0/26', affinity: 'host:node-1', deleted: true });
    assert.deepEqual(events, ['+ blackhole 10.244.1.0/26', '+ blackhole fd00:10:244::/122']);
    events.length = 0;
    r.onBlockUpdate(BLOCK, { cidr: '10.244.1.0/26', affinity: 'host:node-2' });
    assert.deepEqual(events, ['- 10.244.1.0/26']);
    r.onBlockUpdate(BLOCK, { cidr: '10.244.1.0/26', affinity: 'host:node-1' });
    r.onBlockUpdate(BLOCK, undefined);
    assert.deepEqual(events, ['- 10.244.1.0/26', '+ blackhole 10.244.1.0/26', '- 10.244.1.0/26']);
  });

  it('two workloads claiming one address: the smaller key wins, the other takes over', () => {
    const { r, events } = routes();
    r.onEndpointUpdate('wep/b/w', workloadEndpointData('b', 'w', wep('b', 'w', { ips: ['10.0.0.1'], iface: 'caliB' })));
    r.onEndpointUpdate('wep/a/w', workloadEndpointData('a', 'w', wep('a', 'w', { ips: ['10.0.0.1'], iface: 'caliA' })));
    r.onEndpointUpdate('wep/a/w', undefined);
    assert.deepEqual(events, ['+ workload 10.0.0.1/32 caliB', '+ workload 10.0.0.1/32 caliA', '+ workload 10.0.0.1/32 caliB']);
  });
});

const DEFAULT_FAILSAFE_INBOUND = defaultConfig().failsafeInboundHostPorts;
const DEFAULT_FAILSAFE_OUTBOUND = defaultConfig().failsafeOutboundHostPorts;

describe('settings resolver', () => {
  const setup = (hostname = 'node-1') => {
    const seen: DataplaneSettings[] = [];
    const r = new SettingsResolver({ defaultHostname: hostname });
    r.subscribe({ onSettings: (x) => seen.push(x) });
    const s = {
      get current() {
        return r.settings;
      },
      onFelixConfigurationUpdate: (name: string, spec: Record<string, unknown> | undefined) => r.onFelixConfigurationUpdate(name, spec),
      onPoolUpdate: (name: string, spec: Record<string, unknown> | undefined) => r.onPoolUpdate(name, spec),
    };
    return { s, seen };
  };

  it("has Felix's defaults", () => {
    const { s } = setup();
    assert.deepEqual(s.current, {
      interfacePrefixes: ['cali'],
      defaultEndpointToHostAction: 'Drop',
      failsafeInbound: DEFAULT_FAILSAFE_INBOUND,
      failsafeOutbound: DEFAULT_FAILSAFE_OUTBOUND,
      ipv6Enabled: true,
      natOutgoingPools: [],
      allPools: [],
      logPrefix: 'calico-packet',
    });
    assert.deepEqual(
      DEFAULT_FAILSAFE_INBOUND.map((p) => `${p.protocol}:${p.port}`),
      ['tcp:22', 'udp:68', 'tcp:179', 'tcp:2379', 'tcp:2380', 'tcp:5473', 'tcp:6443', 'tcp:6666', 'tcp:6667'],
    );
    assert.deepEqual(
      DEFAULT_FAILSAFE_OUTBOUND.map((p) => `${p.protocol}:${p.port}`),
      ['udp:53', 'udp:67', 'tcp:179', 'tcp:2379', 'tcp:2380', 'tcp:5473', 'tcp:6443', 'tcp:6666', 'tcp:6667'],
    );
  });

  it('node.<hostname> overrides default field by field; other nodes are ignored', () => {
    const { s, seen } = setup();
    s.onFelixConfigurationUpdate('default', { interfacePrefix: 'cali,tap', defaultEndpointToHostAction: 'ACCEPT', logPrefix: 'g' });
    s.onFelixConfigurationUpdate('node.node-2', { logPrefix: 'other' });
    s.onFelixConfigurationUpdate('node.node-1', { logPrefix: 'mine', failsafeInboundHostPorts: [{ port: 22 }, { protocol: 'UDP', port: 53, net: '10.0.0.0/8' }], ipv6Support: false });
    const c = s.current;
    assert.deepEqual(c.interfacePrefixes, ['cali', 'tap']);
    assert.equal(c.defaultEndpointToHostAction, 'Accept');
    assert.equal(c.logPrefix, 'mine');
    assert.equal(c.ipv6Enabled, false);
    assert.deepEqual(c.failsafeInbound, [{ protocol: 'tcp', port: 22 }, { protocol: 'udp', port: 53, net: '10.0.0.0/8' }]);
    assert.deepEqual(c.failsafeOutbound, DEFAULT_FAILSAFE_OUTBOUND);
    assert.equal(seen.length, 2, 'node-2 changed nothing');
    s.onFelixConfigurationUpdate('node.node-1', undefined);
    assert.equal(s.current.logPrefix, 'g');
  });

  it('an empty failsafe list disables failsafe ports', () => {
    const { s } = setup();
    s.onFelixConfigurationUpdate('default', { failsafeInboundHostPorts: [] });
    assert.deepEqual(s.current.failsafeInbound, []);
  });

  it('pools give allPools and natOutgoingPools', () => {
    const { s, seen } = setup();
    s.onPoolUpdate('p4', { cidr: '10.244.0.0/16', natOutgoing: true });
    s.onPoolUpdate('p6', { cidr: 'fd00:10:244::/48' });
    assert.deepEqual(s.current.allPools, ['10.244.0.0/16', 'fd00:10:244::/48']);
    assert.deepEqual(s.current.natOutgoingPools, ['10.244.0.0/16']);
    s.onPoolUpdate('p4', undefined);
    assert.deepEqual(s.current.allPools, ['fd00:10:244::/48']);
    assert.deepEqual(s.current.natOutgoingPools, []);
    assert.equal(seen.length, 3);
  });
});
