// IP-set member index: selector and named-port sets, network sets, profile label inheritance,
// reference counting, and address changes.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { IpSetCallbacks } from '../../src/calc/callbacks.ts';
import { hostEndpointData, networkSetData, workloadEndpointData } from '../../src/calc/endpoint-data.ts';
import { namedPortSetId, networkSetId } from '../../src/calc/ids.ts';
import { IpSetMemberIndex } from '../../src/calc/ipset-members.ts';
import type { IpSetSpec } from '../../src/calc/rule-compiler.ts';
import { parseSelector } from '../../src/selector/mod.ts';
import { resource, wep } from './helpers.ts';

function recorder(): { out: IpSetCallbacks; events: string[] } {
  const events: string[] = [];
  return {
    events,
    out: {
      onIpSetAdded: (id, kind) => events.push(`add ${id} ${kind}`),
      onIpSetRemoved: (id) => events.push(`remove ${id}`),
      onIpSetMemberAdded: (id, m) => events.push(`+ ${id} ${m}`),
      onIpSetMemberRemoved: (id, m) => events.push(`- ${id} ${m}`),
    },
  };
}

const netSet = (text: string): IpSetSpec => {
  const selector = parseSelector(text);
  return { id: selector.id, kind: 'net', selector };
};

const portSet = (text: string, name: string, protocol: 'tcp' | 'udp' | 'sctp' = 'tcp'): IpSetSpec => {
  const selector = parseSelector(text);
  return { id: namedPortSetId(selector.id, protocol, name), kind: 'ip-port', selector, namedPort: { name, protocol } };
};

const endpoint = (ns: string, name: string, o: Parameters<typeof wep>[2]) => {
  const r = wep(ns, name, o);
  return workloadEndpointData(ns, name, r);
};


/** An index with the two active sets of `app == 'web'` workloads (addresses; the `http` named port), and the port list that names it. */
function webSets() {
  const { out, events } = recorder();
  const idx = new IpSetMemberIndex(out);
  const net = netSet("app == 'web'");
  const http = portSet("app == 'web'", 'http');
  idx.onIpSetActive(net);
  idx.onIpSetActive(http);
  return { events, idx, net, http, ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] };
}

describe('ip-set members - selectors', () => {
  it('announces the set, then its members; members follow label changes', () => {
    const { out, events } = recorder();
    const idx = new IpSetMemberIndex(out);
    idx.onEndpointUpdate('wep/a/w1', endpoint('a', 'w1', { labels: { app: 'web' }, ips: ['10.0.0.1'] }));
    const spec = netSet("app == 'web'");
    idx.onIpSetActive(spec);
    assert.deepEqual(events, [`add ${spec.id} net`, `+ ${spec.id} 10.0.0.1/32`]);
    events.length = 0;
    idx.onEndpointUpdate('wep/a/w2', endpoint('a', 'w2', { labels: { app: 'web' }, ips: ['10.0.0.2', 'fd00::2'] }));
    idx.onEndpointUpdate('wep/a/w1', endpoint('a', 'w1', { labels: { app: 'db' }, ips: ['10.0.0.1'] }));
    assert.deepEqual(events, [`+ ${spec.id} 10.0.0.2/32`, `+ ${spec.id} fd00::2/128`, `- ${spec.id} 10.0.0.1/32`]);
    assert.deepEqual(idx.membersOf(spec.id), ['10.0.0.2/32', 'fd00::2/128']);
  });

  it('address changes move only that endpoint’s members', () => {
    const { out, events } = recorder();
    const idx = new IpSetMemberIndex(out);
    const spec = netSet("app == 'web'");
    idx.onIpSetActive(spec);
    idx.onEndpointUpdate('wep/a/w1', endpoint('a', 'w1', { labels: { app: 'web' }, ips: ['10.0.0.1'] }));
    events.length = 0;
    idx.onEndpointUpdate('wep/a/w1', endpoint('a', 'w1', { labels: { app: 'web' }, ips: ['10.0.0.7'] }));
    assert.deepEqual(events, [`+ ${spec.id} 10.0.0.7/32`, `- ${spec.id} 10.0.0.1/32`]);
  });

  it('members are reference counted across items', () => {
    const { out, events } = recorder();
    const idx = new IpSetMemberIndex(out);
    const spec = netSet("role == 'x'");
    idx.onIpSetActive(spec);
    idx.onEndpointUpdate('wep/a/w1', endpoint('a', 'w1', { labels: { role: 'x' }, ips: ['10.0.0.1'] }));
    idx.onNetworkSetUpdate('gnetset/n', networkSetData('gnetset/n', undefined, resource('GlobalNetworkSet', 'n', { nets: ['10.0.0.1'] }, { labels: { role: 'x' } })));
    idx.onEndpointUpdate('wep/a/w1', undefined);
    assert.deepEqual(events.slice(1), [`+ ${spec.id} 10.0.0.1/32`], 'second contribution and first removal are silent');
    idx.onNetworkSetUpdate('gnetset/n', undefined);
    assert.deepEqual(events.slice(-1), [`- ${spec.id} 10.0.0.1/32`]);
    // Three contributors: only the last removal is announced, whatever the order.
    events.length = 0;
    for (const w of ['w1', 'w2', 'w3']) idx.onEndpointUpdate(`wep/a/${w}`, endpoint('a', w, { labels: { role: 'x' }, ips: ['10.0.0.1'] }));
    idx.onEndpointUpdate('wep/a/w2', undefined);
    idx.onEndpointUpdate('wep/a/w1', undefined);
    assert.deepEqual(events, [`+ ${spec.id} 10.0.0.1/32`]);
    assert.deepEqual(idx.membersOf(spec.id), ['10.0.0.1/32']);
    idx.onEndpointUpdate('wep/a/w3', undefined);
    assert.deepEqual(events, [`+ ${spec.id} 10.0.0.1/32`, `- ${spec.id} 10.0.0.1/32`]);
    assert.deepEqual(idx.membersOf(spec.id), []);
  });

  it('deactivating a set announces its removal only', () => {
    const { out, events } = recorder();
    const idx = new IpSetMemberIndex(out);
    const spec = netSet('all()');
    idx.onEndpointUpdate('wep/a/w1', endpoint('a', 'w1', { ips: ['10.0.0.1'] }));
    idx.onIpSetActive(spec);
    events.length = 0;
    idx.onIpSetInactive(spec.id);
    assert.deepEqual(events, [`remove ${spec.id}`]);
    idx.onEndpointUpdate('wep/a/w2', endpoint('a', 'w2', { ips: ['10.0.0.2'] }));
    assert.deepEqual(events, [`remove ${spec.id}`]);
  });
});

describe('ip-set members - inheritance and network sets', () => {
  it('endpoints inherit their profiles’ labels (kns.<ns> gives pcns.*)', () => {
    const { out } = recorder();
    const idx = new IpSetMemberIndex(out);
    const spec = netSet("pcns.team == 'blue'");
    idx.onIpSetActive(spec);
    idx.onEndpointUpdate('wep/a/w1', endpoint('a', 'w1', { ips: ['10.0.0.1'] }));
    assert.deepEqual(idx.membersOf(spec.id), []);
    idx.onParentUpdate('kns.a', { 'pcns.team': 'blue' });
    assert.deepEqual(idx.membersOf(spec.id), ['10.0.0.1/32']);
    idx.onParentUpdate('kns.a', undefined);
    assert.deepEqual(idx.membersOf(spec.id), []);
  });

  it('a namespaced NetworkSet carries the namespace label and inherits namespace labels', () => {
    const { out } = recorder();
    const idx = new IpSetMemberIndex(out);
    const byNs = netSet("projectcalico.org/namespace == 'a' && kind == 'ext'");
    const byNsLabel = netSet("pcns.team == 'blue'");
    idx.onIpSetActive(byNs);
    idx.onIpSetActive(byNsLabel);
    idx.onParentUpdate('kns.a', { 'pcns.team': 'blue' });
    const id = networkSetId('a', 'ext');
    idx.onNetworkSetUpdate(id, networkSetData(id, 'a', resource('NetworkSet', 'ext', { nets: ['192.0.2.0/24', '198.51.100.7'] }, { namespace: 'a', labels: { kind: 'ext' } })));
    assert.deepEqual(idx.membersOf(byNs.id), ['192.0.2.0/24', '198.51.100.7/32']);
    assert.deepEqual(idx.membersOf(byNsLabel.id), ['192.0.2.0/24', '198.51.100.7/32']);
  });

  it('a /0 net is split into two /1s', () => {
    const { out } = recorder();
    const idx = new IpSetMemberIndex(out);
    const spec = netSet("x == 'y'");
    idx.onIpSetActive(spec);
    idx.onNetworkSetUpdate('gnetset/all', networkSetData('gnetset/all', undefined, resource('GlobalNetworkSet', 'all', { nets: ['0.0.0.0/0', '::/0'] }, { labels: { x: 'y' } })));
    assert.deepEqual(idx.membersOf(spec.id), ['0.0.0.0/1', '128.0.0.0/1', '8000::/1', '::/1']);
  });

  it('host endpoints contribute their expected IPs', () => {
    const { out } = recorder();
    const idx = new IpSetMemberIndex(out);
    const spec = netSet("role == 'gw'");
    idx.onIpSetActive(spec);
    idx.onEndpointUpdate('hep/h1', hostEndpointData('h1', resource('HostEndpoint', 'h1', { node: 'n', interfaceName: 'eth0', expectedIPs: ['192.0.2.10'] }, { labels: { role: 'gw' } })));
    assert.deepEqual(idx.membersOf(spec.id), ['192.0.2.10/32']);
  });
});

describe('ip-set members - named ports', () => {
  it('holds ip,proto:port of matching endpoints that declare the port with that protocol', () => {
    const { out } = recorder();
    const idx = new IpSetMemberIndex(out);
    const tcp = portSet('all()', 'http');
    const udp = portSet('all()', 'http', 'udp');
    idx.onIpSetActive(tcp);
    idx.onIpSetActive(udp);
    idx.onEndpointUpdate('wep/a/w1', endpoint('a', 'w1', { ips: ['10.0.0.1', 'fd00::1'], ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] }));
    idx.onEndpointUpdate('wep/a/w2', endpoint('a', 'w2', { ips: ['10.0.0.2'], ports: [{ name: 'http', protocol: 'UDP', port: 53 }, { name: 'other', protocol: 'TCP', port: 1 }] }));
    idx.onNetworkSetUpdate('gnetset/n', networkSetData('gnetset/n', undefined, resource('GlobalNetworkSet', 'n', { nets: ['10.9.0.0/16'] })));
    assert.deepEqual(idx.membersOf(tcp.id), ['10.0.0.1,tcp:8080', 'fd00::1,tcp:8080']);
    assert.deepEqual(idx.membersOf(udp.id), ['10.0.0.2,udp:53']);
  });

  it('filters by its selector and follows port changes', () => {
    const { out, events } = recorder();
    const idx = new IpSetMemberIndex(out);
    const spec = portSet("app == 'web'", 'http');
    idx.onIpSetActive(spec);
    idx.onEndpointUpdate('wep/a/w1', endpoint('a', 'w1', { labels: { app: 'web' }, ips: ['10.0.0.1'], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] }));
    idx.onEndpointUpdate('wep/a/w2', endpoint('a', 'w2', { labels: { app: 'db' }, ips: ['10.0.0.2'], ports: [{ name: 'http', protocol: 'TCP', port: 80 }] }));
    assert.deepEqual(idx.membersOf(spec.id), ['10.0.0.1,tcp:80']);
    events.length = 0;
    idx.onEndpointUpdate('wep/a/w1', endpoint('a', 'w1', { labels: { app: 'web' }, ips: ['10.0.0.1'], ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] }));
    assert.deepEqual(events, [`+ ${spec.id} 10.0.0.1,tcp:8080`, `- ${spec.id} 10.0.0.1,tcp:80`]);
  });
});

describe('ip-set members - the compact form of an endpoint', () => {
  it('keeps only what the graph needs, with shared port lists', () => {
    const w1 = endpoint('a', 'w1', { labels: { app: 'web' }, ips: ['10.0.0.1', 'FD00:0::1'], ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] });
    const w2 = endpoint('a', 'w2', { labels: { app: 'web' }, ips: ['10.0.0.2'], ports: [{ name: 'http', protocol: 'TCP', port: 8080 }] });
    assert.deepEqual(Object.keys(w1).sort(), ['allowSpoofedSourcePrefixes', 'cidrs', 'id', 'interfaceName', 'kind', 'labels', 'node', 'ports', 'profiles']);
    assert.deepEqual(w1.cidrs, ['10.0.0.1/32', 'fd00::1/128']);
    assert.equal(w1.ports, w2.ports, 'one list for equal named ports');
    assert.ok(Object.isFrozen(w1.ports));
    assert.equal(endpoint('a', 'w3', {}).ports.length, 0);
  });

  it('takes addresses as /32 and /128 host CIDRs whatever their written prefix or spelling', () => {
    const w = endpoint('a', 'w', { labels: {}, ips: ['10.0.0.5/32', '10.0.0.1/24', '10.0.0.5', 'fd00::1/128', 'FD00:0::2/64', 'fd00::1'] });
    assert.deepEqual(w.cidrs, ['10.0.0.5/32', '10.0.0.1/32', 'fd00::1/128', 'fd00::2/128']);
  });

  it('follows an endpoint through one address, named ports, two addresses, none and back', () => {
    // The index keeps one address without ports as a bare string, one address with ports without a
    // list, and anything else as lists: every transition between them moves exactly the members.
    const { events, idx, net, http, ports } = webSets();
    const steps: Array<[Parameters<typeof wep>[2], string[], string[]]> = [
      [{ labels: { app: 'web' }, ips: ['10.0.0.1'] }, ['10.0.0.1/32'], []],
      [{ labels: { app: 'web' }, ips: ['10.0.0.1'], ports }, ['10.0.0.1/32'], ['10.0.0.1,tcp:8080']],
      [{ labels: { app: 'web' }, ips: ['10.0.0.1', '10.0.0.2'], ports }, ['10.0.0.1/32', '10.0.0.2/32'], ['10.0.0.1,tcp:8080', '10.0.0.2,tcp:8080']],
      [{ labels: { app: 'web' }, ips: ['10.0.0.2'] }, ['10.0.0.2/32'], []],
      [{ labels: { app: 'web' }, ips: [] }, [], []],
      [{ labels: { app: 'web' }, ips: ['10.0.0.3'], ports }, ['10.0.0.3/32'], ['10.0.0.3,tcp:8080']],
      [{ labels: { app: 'web' }, ips: ['10.0.0.3'], ports }, ['10.0.0.3/32'], ['10.0.0.3,tcp:8080']],
      [{ labels: { app: 'web' }, ips: ['10.0.0.4'] }, ['10.0.0.4/32'], []],
    ];
    let before = { net: [] as string[], http: [] as string[] };
    for (const [o, netMembers, httpMembers] of steps) {
      events.length = 0;
      idx.onEndpointUpdate('wep/a/w', endpoint('a', 'w', o));
      assert.deepEqual(idx.membersOf(net.id), netMembers, JSON.stringify(o));
      assert.deepEqual(idx.membersOf(http.id), httpMembers, JSON.stringify(o));
      // Only what changed is announced.
      const expected = [
        ...netMembers.filter((m) => !before.net.includes(m)).map((m) => `+ ${net.id} ${m}`),
        ...before.net.filter((m) => !netMembers.includes(m)).map((m) => `- ${net.id} ${m}`),
        ...httpMembers.filter((m) => !before.http.includes(m)).map((m) => `+ ${http.id} ${m}`),
        ...before.http.filter((m) => !httpMembers.includes(m)).map((m) => `- ${http.id} ${m}`),
      ];
      assert.deepEqual([...events].sort(), expected.sort(), JSON.stringify(o));
      before = { net: netMembers, http: httpMembers };
    }
    idx.onEndpointUpdate('wep/a/w', undefined);
    assert.deepEqual([idx.membersOf(net.id), idx.membersOf(http.id)], [[], []]);
  });

  it('gives the same members as the endpoints it was made from, through changes and deletes', () => {
    const { idx, net, http, ports } = webSets();
    for (let i = 1; i <= 50; i++) idx.onEndpointUpdate(`wep/a/w${i}`, endpoint('a', `w${i}`, { labels: { app: 'web' }, ips: [`10.0.0.${i}`, `fd00::${i.toString(16)}`], ports }));
    assert.equal(idx.membersOf(net.id).length, 100);
    assert.deepEqual(idx.membersOf(http.id).slice(0, 2), ['10.0.0.1,tcp:8080', '10.0.0.10,tcp:8080']);
    assert.ok(idx.membersOf(http.id).includes('fd00::32,tcp:8080'));
    assert.deepEqual(idx.sharedValues, { labelSets: 1, parentLists: 1 }, 'one label set (the profile passes no labels: effective = own), one profile list, for all 50');
    // One endpoint changes its labels, another its address: only theirs move.
    idx.onEndpointUpdate('wep/a/w1', endpoint('a', 'w1', { labels: { app: 'db' }, ips: ['10.0.0.1', 'fd00::1'], ports }));
    idx.onEndpointUpdate('wep/a/w2', endpoint('a', 'w2', { labels: { app: 'web' }, ips: ['10.0.1.2'], ports }));
    assert.ok(!idx.membersOf(net.id).includes('10.0.0.1/32') && !idx.membersOf(http.id).includes('fd00::1,tcp:8080'));
    assert.ok(idx.membersOf(net.id).includes('10.0.1.2/32') && !idx.membersOf(net.id).includes('fd00::2/128'));
    assert.ok(idx.membersOf(http.id).includes('10.0.1.2,tcp:8080') && !idx.membersOf(http.id).includes('10.0.0.2,tcp:8080'));
    for (let i = 1; i <= 50; i++) idx.onEndpointUpdate(`wep/a/w${i}`, undefined);
    assert.deepEqual([idx.membersOf(net.id), idx.membersOf(http.id), idx.itemCount], [[], [], 0]);
    assert.deepEqual(idx.sharedValues, { labelSets: 0, parentLists: 0 });
  });
});
