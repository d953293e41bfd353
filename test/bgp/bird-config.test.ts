/**
 * The BIRD renderer: every configuration it produces passes the real `bird -p` check, and the
 * text says what calico-facts §5 says it should (mesh, mesh off, per-node AS, route reflectors,
 * explicit peers, passwords, filters, communities, graceful restart, BFD, IPv6, unnumbered).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderBirdConfig } from '../../src/bgp/bird-config.ts';
import { filterFunctionName } from '../../src/bgp/bird-filters.ts';
import { assertBirdParses, baseInput, node, protocolBlock, protocolNames, render, res } from './helpers.ts';

const bgpConfig = (spec: Record<string, unknown>, annotations?: Record<string, string>, name = 'default') =>
  res('BGPConfiguration', name, spec, annotations ? { annotations } : {});

describe('bird config - node-to-node mesh', () => {
  it('renders one Mesh_ session per other node; the lexically greater address waits', () => {
    const { text, peers, warnings } = render(baseInput());
    assert.deepEqual(warnings, []);
    assert.deepEqual(protocolNames(text), ['Mesh_192_0_2_12', 'Mesh_192_0_2_13']);
    const b = protocolBlock(text, 'Mesh_192_0_2_12');
    assert.match(b, /local 192\.0\.2\.11 as 64512;/);
    assert.match(b, /neighbor 192\.0\.2\.12 as 64512;/);
    assert.match(b, /multihop;/);
    assert.match(b, /passive on;/);
    assert.match(b, /export filter \{ margay_export_v4\(true\); reject; \};/);
    assert.match(b, /import filter \{ accept; \};/);
    assert.match(b, /gateway recursive;/);
    assert.match(text, /^router id 192\.0\.2\.11;$/m);
    assert.deepEqual(peers.map((p) => [p.protocol, p.kind, p.passive, p.remoteAs]), [
      ['Mesh_192_0_2_12', 'mesh', true, 64512],
      ['Mesh_192_0_2_13', 'mesh', true, 64512],
    ]);
    // From node-c's side, both others are lower: it connects.
    const c = render(baseInput({ nodeName: 'node-c' }));
    assert.doesNotMatch(c.text, /passive on;/);
  });

  it('exports the affine blocks aggregated and programs only BGP routes into the kernel', () => {
    const { text } = render(baseInput({ affineBlocks: ['10.244.1.0/26', '10.244.1.64/26'], borrowedAddresses: ['10.244.7.3', '10.244.9.9/32'] }));
    assert.match(text, /protocol static static4 \{\n  ipv4;\n  route 10\.244\.1\.0\/26 blackhole;\n  route 10\.244\.1\.64\/26 blackhole;\n  route 10\.244\.7\.3\/32 blackhole;\n  route 10\.244\.9\.9\/32 blackhole;\n\}/);
    assert.match(text, /if \( net = 10\.244\.1\.0\/26 \) then accept;\n  if \( net = 10\.244\.1\.64\/26 \) then accept;/);
    assert.match(text, /if \( net ~ \[ 10\.244\.7\.3\/32, 10\.244\.9\.9\/32 \] \) then accept;/);
    assert.match(text, /if \( net ~ \[ 10\.244\.1\.0\/26\+, 10\.244\.1\.64\/26\+ \] \) then reject;/);
    assert.match(text, /if \( source = RTS_BGP && net ~ \[ 10\.244\.0\.0\/16\+ \] \) then accept;/);
    assert.match(text, /filter margay_kernel_v4\n\{\n[^}]*if \( source != RTS_BGP \) then reject;[^}]*krt_metric = 1024;/);
    assert.match(text, /protocol kernel kernel4 \{\n  learn;[^}]*persist;[^}]*scan time 2;[^}]*graceful restart;[^}]*merge paths on;/);
    assert.match(text, /interface -"cali\*", -"kube-ipvs\*", "\*";/);
  });

  it('never announces disabled or disableBGPExport pools; leaves VXLAN pools to the agent', () => {
    const { text } = render(
      baseInput({
        pools: [
          res('IPPool', 'a', { cidr: '10.244.0.0/16' }),
          res('IPPool', 'off', { cidr: '10.99.0.0/16', disabled: true }),
          res('IPPool', 'quiet', { cidr: '10.98.0.0/16', disableBGPExport: true }),
          res('IPPool', 'vx', { cidr: '10.250.0.0/16', vxlanMode: 'CrossSubnet' }),
        ],
        bgpConfigurations: [bgpConfig({ ipv4NormalRoutePriority: 512 })],
      }),
    );
    assert.match(text, /if \( net ~ \[ 10\.99\.0\.0\/16\+, 10\.98\.0\.0\/16\+ \] \) then reject;|if \( net ~ \[ 10\.98\.0\.0\/16\+, 10\.99\.0\.0\/16\+ \] \) then reject;/);
    assert.match(text, /filter margay_kernel_v4[^]*?if \( net ~ \[ 10\.250\.0\.0\/16\+ \] \) then reject;[^]*?krt_metric = 512;/);
    assert.match(text, /if \( internal_peer && defined\(ifname\) && \(ifname = "vxlan\.margay" \|\| ifname = "vxlan-v6\.margay"\) \) then reject;/);
  });

  it('programClusterRoutes: Disabled leaves every pool to the agent', () => {
    const { text } = render(baseInput({ bgpConfigurations: [bgpConfig({ programClusterRoutes: 'Disabled' })] }));
    assert.match(text, /filter margay_kernel_v4[^]*?if \( net ~ \[ 10\.244\.0\.0\/16\+ \] \) then reject;/);
  });

  it('mesh off: no mesh sessions', () => {
    const { text, peers } = render(baseInput({ bgpConfigurations: [bgpConfig({ nodeToNodeMeshEnabled: false })] }));
    assert.deepEqual(peers, []);
    assert.match(text, /# ------------- Node-to-node mesh -------------\n# None\./);
  });

  it('per-node AS numbers: the mesh becomes eBGP between different AS', () => {
    const input = baseInput({
      bgpConfigurations: [bgpConfig({ asNumber: 65000 })],
      nodes: [node('node-a', '192.0.2.11/24'), node('node-b', '192.0.2.12/24', { asNumber: 65002 }), node('node-c', '192.0.2.13/24', { asNumber: '1.10' })],
    });
    const { text, peers } = render(input);
    assert.match(protocolBlock(text, 'Mesh_192_0_2_12'), /local 192\.0\.2\.11 as 65000;\n  neighbor 192\.0\.2\.12 as 65002;/);
    assert.match(protocolBlock(text, 'Mesh_192_0_2_12'), /margay_export_v4\(false\)/);
    assert.equal(peers.find((p) => p.protocol === 'Mesh_192_0_2_13')?.remoteAs, 65546);
    const b = render({ ...input, nodeName: 'node-b' });
    assert.match(protocolBlock(b.text, 'Mesh_192_0_2_11'), /local 192\.0\.2\.12 as 65002;\n  neighbor 192\.0\.2\.11 as 65000;/);
  });

  it('listenPort and bindMode: mesh peers use the peer node\'s port; NodeIP binds strictly', () => {
    const { text } = render(
      baseInput({
        bgpConfigurations: [bgpConfig({ listenPort: 1179, bindMode: 'NodeIP' }), bgpConfig({ listenPort: 2179 }, undefined, 'node.node-b')],
      }),
    );
    assert.match(protocolBlock(text, 'Mesh_192_0_2_12'), /local 192\.0\.2\.11 port 1179 as 64512;\n  neighbor 192\.0\.2\.12 port 2179 as 64512;[^}]*strict bind on;/);
    assert.match(protocolBlock(text, 'Mesh_192_0_2_13'), /neighbor 192\.0\.2\.13 port 1179 as 64512;/);
  });

  it('mesh password from a secret, and nodeMeshMaxRestartTime', () => {
    const { text } = render(
      baseInput({
        bgpConfigurations: [bgpConfig({ nodeMeshPassword: { secretKeyRef: { name: 'bgp', key: 'mesh' } }, nodeMeshMaxRestartTime: '2m' })],
        secrets: (ref) => (ref.name === 'bgp' && ref.key === 'mesh' ? 'mesh-pw' : undefined),
      }),
    );
    assert.match(protocolBlock(text, 'Mesh_192_0_2_12'), /password "mesh-pw";\n  graceful restart time 120;/);
  });

  it('is deterministic: input order does not matter', () => {
    const a = renderBirdConfig(baseInput());
    const input = baseInput();
    const b = renderBirdConfig({ ...input, nodes: [...input.nodes].reverse() });
    assert.equal(a.text, b.text);
  });

  it('a node that is not registered yet gets a valid configuration without sessions', () => {
    const { text, warnings } = render(baseInput({ nodeName: 'node-z' }));
    assert.deepEqual(protocolNames(text), []);
    assert.match(warnings[0]!, /Node node-z does not exist yet/);
    assert.match(text, /^router id \d+\.\d+\.\d+\.\d+;$/m);
  });

  it('logSeverityScreen Debug turns on full BIRD debugging; Warning turns it off', () => {
    assert.match(render(baseInput({ bgpConfigurations: [bgpConfig({ logSeverityScreen: 'Debug' })] })).text, /template bgp margay_peer \{\n  debug all;/);
    assert.doesNotMatch(render(baseInput({ bgpConfigurations: [bgpConfig({ logSeverityScreen: 'Warning' })] })).text, /debug/);
  });
});

describe('bird config - route reflectors', () => {
  const rrNodes = [
    node('rr-1', '192.0.2.11/24', { routeReflectorClusterID: '1.0.0.1' }, { 'route-reflector': 'true' }),
    node('rr-2', '192.0.2.12/24', { routeReflectorClusterID: '1.0.0.1' }, { 'route-reflector': 'true' }),
    node('node-c', '192.0.2.13/24'),
    node('node-d', '192.0.2.14/24'),
  ];
  const rrPeer = res('BGPPeer', 'peer-with-rrs', { nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" });

  it('a reflector skips the mesh and makes the nodes of other clusters its clients', () => {
    const { text, peers } = render(baseInput({ nodeName: 'rr-1', nodes: rrNodes, peers: [rrPeer] }));
    assert.match(text, /This node is a route reflector \(cluster id 1\.0\.0\.1\); it skips the mesh\./);
    assert.deepEqual(protocolNames(text), ['Node_192_0_2_12', 'Node_192_0_2_13', 'Node_192_0_2_14']);
    assert.doesNotMatch(protocolBlock(text, 'Node_192_0_2_12'), /rr client/);
    assert.match(protocolBlock(text, 'Node_192_0_2_13'), /rr client;\n  rr cluster id 1\.0\.0\.1;/);
    assert.deepEqual(peers.filter((p) => p.rrClient).map((p) => p.address), ['192.0.2.13', '192.0.2.14']);
  });

  it('clients peer with the reflectors only, and leave them out of their mesh', () => {
    const { text } = render(baseInput({ nodeName: 'node-c', nodes: rrNodes, peers: [rrPeer] }));
    assert.deepEqual(protocolNames(text), ['Mesh_192_0_2_14', 'Node_192_0_2_11', 'Node_192_0_2_12']);
    const off = render(baseInput({ nodeName: 'node-c', nodes: rrNodes, peers: [rrPeer], bgpConfigurations: [bgpConfig({ nodeToNodeMeshEnabled: false })] }));
    assert.deepEqual(protocolNames(off.text), ['Node_192_0_2_11', 'Node_192_0_2_12']);
  });

  it('selector peerings between nodes are one-way like the mesh; an explicit peerIP to a node is not', () => {
    const rr = render(baseInput({ nodeName: 'rr-1', nodes: rrNodes, peers: [rrPeer] }));
    assert.match(protocolBlock(rr.text, 'Node_192_0_2_13'), /passive on;/, 'node-c has the greater address: rr-1 waits');
    assert.doesNotMatch(protocolBlock(render(baseInput({ nodeName: 'node-c', nodes: rrNodes, peers: [rrPeer] })).text, 'Node_192_0_2_11'), /passive/);
    const explicit = render(baseInput({ nodeName: 'node-a', peers: [res('BGPPeer', 'to-b', { peerIP: '192.0.2.12', asNumber: 64512 })] }));
    assert.doesNotMatch(protocolBlock(explicit.text, 'Global_192_0_2_12'), /passive/, 'node-b has no session back: node-a must connect');
  });

  it('reversePeering: Manual stops the automatic peering back from the reflectors', () => {
    const manual = res('BGPPeer', 'peer-with-rrs', { nodeSelector: '!has(route-reflector)', peerSelector: "route-reflector == 'true'", reversePeering: 'Manual' });
    const { text } = render(baseInput({ nodeName: 'rr-1', nodes: rrNodes, peers: [manual] }));
    assert.deepEqual(protocolNames(text), []);
  });

  it('a global BGPPeer with a peerSelector gives Global_ sessions, one way between nodes', () => {
    const global = res('BGPPeer', 'to-rrs', { peerSelector: "route-reflector == 'true'" });
    const { text } = render(baseInput({ nodeName: 'node-c', nodes: rrNodes, peers: [global], bgpConfigurations: [bgpConfig({ nodeToNodeMeshEnabled: false })] }));
    assert.deepEqual(protocolNames(text), ['Global_192_0_2_11', 'Global_192_0_2_12']);
    assert.doesNotMatch(text, /passive on;/, 'the reflectors have the lower addresses: they wait, node-c connects');
  });
});

describe('bird config - explicit peers', () => {
  it('global and node-specific peers, with port, by node name and by nodeSelector', () => {
    const input = baseInput({
      nodes: [node('node-a', '192.0.2.11/24', {}, { rack: 'r1' }), node('node-b', '192.0.2.12/24')],
      peers: [
        res('BGPPeer', 'tor', { peerIP: '10.0.0.1:1179', asNumber: 65001 }),
        res('BGPPeer', 'mine', { node: 'node-a', peerIP: '192.0.2.1', asNumber: 65002 }),
        res('BGPPeer', 'rack', { nodeSelector: "rack == 'r1'", peerIP: '192.0.2.2', asNumber: 65003 }),
        res('BGPPeer', 'not-mine', { node: 'node-b', peerIP: '192.0.2.3', asNumber: 65004 }),
      ],
    });
    const { text, peers } = render(input);
    assert.deepEqual(protocolNames(text), ['Mesh_192_0_2_12', 'Global_10_0_0_1_port_1179', 'Node_192_0_2_1', 'Node_192_0_2_2']);
    assert.match(protocolBlock(text, 'Global_10_0_0_1_port_1179'), /neighbor 10\.0\.0\.1 port 1179 as 65001;\n  multihop;/);
    assert.match(protocolBlock(text, 'Global_10_0_0_1_port_1179'), /local 192\.0\.2\.11 as 64512;/);
    assert.doesNotMatch(protocolBlock(text, 'Global_10_0_0_1_port_1179'), /passive/);
    assert.equal(peers.find((p) => p.protocol === 'Node_192_0_2_1')?.source, 'BGPPeer/mine');
  });

  it('sourceAddress, next hop, TTL security, timers, local AS, allowed local AS, gateway mode', () => {
    const { text } = render(
      baseInput({
        peers: [
          res('BGPPeer', 'a', { peerIP: '10.0.0.1', asNumber: 65001, sourceAddress: 'None', keepOriginalNextHop: true, ttlSecurity: 2 }),
          res('BGPPeer', 'b', { peerIP: '10.0.0.2', asNumber: 64512, nextHopMode: 'Self', keepaliveTime: '100s', maxRestartTime: '90s' }),
          res('BGPPeer', 'c', { peerIP: '10.0.0.3', asNumber: 65003, localASNumber: 65100, numAllowedLocalASNumbers: 2, restartMode: 'LongLivedGracefulRestart', maxRestartTime: '10m' }),
          res('BGPPeer', 'd', { peerIP: '192.0.2.1', asNumber: 65004, birdGatewayMode: 'DirectIfDirectlyConnected', nextHopMode: 'Keep' }),
          res('BGPPeer', 'e', { peerIP: '10.0.0.5', asNumber: 64512, keepOriginalNextHop: true }),
        ],
      }),
    );
    const a = protocolBlock(text, 'Global_10_0_0_1');
    assert.match(a, /local as 64512;/);
    assert.match(a, /multihop 2;\n  ttl security on;/);
    assert.match(a, /next hop keep;/);
    const b = protocolBlock(text, 'Global_10_0_0_2');
    assert.match(b, /next hop self;/);
    assert.match(b, /graceful restart time 90;\n  keepalive time 100;\n  hold time 300;/);
    assert.match(b, /margay_export_v4\(true\)/);
    const c = protocolBlock(text, 'Global_10_0_0_3');
    assert.match(c, /local 192\.0\.2\.11 as 65100;/);
    assert.match(c, /long lived graceful restart on;\n  long lived stale time 600;/);
    assert.match(c, /allow local as 2;/);
    const d = protocolBlock(text, 'Global_192_0_2_1');
    assert.match(d, /direct;/);
    assert.match(d, /gateway direct;/);
    assert.match(d, /next hop keep;/);
    assert.doesNotMatch(protocolBlock(text, 'Global_10_0_0_5'), /next hop keep/, 'keepOriginalNextHop only applies to eBGP');
  });

  it('a peer that is another node gets that node\'s cluster role', () => {
    const { text } = render(
      baseInput({
        nodeName: 'node-a',
        nodes: [node('node-a', '192.0.2.11/24', { routeReflectorClusterID: '1.0.0.1' }), node('node-b', '192.0.2.12/24', { routeReflectorClusterID: '1.0.0.1' })],
        peers: [res('BGPPeer', 'p', { peerIP: '192.0.2.12', asNumber: 64512 })],
      }),
    );
    assert.doesNotMatch(protocolBlock(text, 'Global_192_0_2_12'), /rr client/);
  });

  it('an explicit peer replaces the mesh session to the same address', () => {
    const { text, warnings } = render(baseInput({ peers: [res('BGPPeer', 'b', { node: 'node-a', peerIP: '192.0.2.12', asNumber: 64512 })] }));
    assert.deepEqual(protocolNames(text), ['Mesh_192_0_2_13', 'Node_192_0_2_12']);
    assert.match(warnings.join('\n'), /192\.0\.2\.12 from BGPConfiguration\/default is already configured by BGPPeer\/b/);
  });

  it('peers without asNumber, or with a link-local address but no interface, are left out with a warning', () => {
    const { text, warnings } = render(baseInput({ peers: [res('BGPPeer', 'x', { peerIP: 'fe80::1', asNumber: 65001 })] }));
    assert.deepEqual(protocolNames(text), ['Mesh_192_0_2_12', 'Mesh_192_0_2_13']);
    assert.match(warnings.join('\n'), /link-local peerIP needs the margay\.io\/peer-interface annotation/);
  });
});

describe('bird config - passwords', () => {
  const withPeer = (secret: string | undefined, optional?: boolean) =>
    baseInput({
      peers: [res('BGPPeer', 'tor', { peerIP: '192.0.2.1', asNumber: 65001, password: { secretKeyRef: { name: 'bgp-secrets', key: 'tor', ...(optional ? { optional } : {}) } } })],
      secrets: (ref) => (ref.name === 'bgp-secrets' && ref.key === 'tor' ? secret : undefined),
    });

  it('renders the TCP-MD5 password from the secret', () => {
    assert.match(protocolBlock(render(withPeer('Str0ng pass!')).text, 'Global_192_0_2_1'), /password "Str0ng pass!";/);
  });

  it('leaves the peer out when the secret is missing (never silently without a password)', () => {
    const { text, warnings } = render(withPeer(undefined));
    assert.ok(!protocolNames(text).includes('Global_192_0_2_1'));
    assert.match(warnings.join('\n'), /secret bgp-secrets\/tor not found/);
  });

  it('an optional missing secret means no password', () => {
    const { text } = render(withPeer(undefined, true));
    assert.doesNotMatch(protocolBlock(text, 'Global_192_0_2_1'), /password/);
  });

  it('refuses passwords BIRD cannot quote', () => {
    const { text, warnings } = render(withPeer('a"b'));
    assert.ok(!protocolNames(text).includes('Global_192_0_2_1'));
    assert.match(warnings.join('\n'), /contains a quote/);
  });
});

describe('bird config - BGPFilter', () => {
  const filter = res('BGPFilter', 'edge-policy.v1', {
    exportV4: [
      { cidr: '10.244.0.0/16', matchOperator: 'In', prefixLength: { min: 26, max: 28 }, action: 'Accept', operations: [{ prependASPath: { prefix: [65010, 65011] } }, { addCommunity: { value: '65000:7' } }] },
      { cidr: '10.245.0.0/16', matchOperator: 'NotIn', source: 'RemotePeers', peerType: 'eBGP', action: 'Reject' },
      { interface: 'eth*', action: 'Accept', operations: [{ setPriority: { value: 300 } }] },
    ],
    importV4: [
      { cidr: '0.0.0.0/0', matchOperator: 'Equal', action: 'Reject' },
      { cidr: '10.0.0.0/8', matchOperator: 'NotEqual', communities: { values: ['65000:100'] }, asPathPrefix: [65001, '1.2'], action: 'Accept' },
      { priority: 512, peerType: 'iBGP', communities: { values: ['65000:1:2'] }, action: 'Accept', operations: [{ addCommunity: { value: '65000:3:4' } }] },
    ],
    importV6: [{ cidr: 'fd00::/8', matchOperator: 'In', action: 'Accept' }],
  });

  it('renders each list as a function and calls it before Margay\'s own policy', () => {
    const { text, warnings } = render(baseInput({ filters: [filter], peers: [res('BGPPeer', 'tor', { peerIP: '192.0.2.1', asNumber: 65001, filters: ['edge-policy.v1', 'missing'] })] }));
    const exp = filterFunctionName('edge-policy.v1', 'exportV4');
    const imp = filterFunctionName('edge-policy.v1', 'importV4');
    assert.equal(exp, "'margay_filter_edge-policy.v1_exportV4'");
    assert.match(text, new RegExp(`function ${exp.replace(/\./g, '\\.')}\\(bool internal_peer\\)`));
    assert.match(text, /if \( \(net ~ \[ 10\.244\.0\.0\/16\{26,28\} \]\) \) then \{ bgp_path\.prepend\(65011\); bgp_path\.prepend\(65010\); bgp_community\.add\(\(65000, 7\)\); accept; \}/);
    assert.match(text, /if \( \(net !~ \[ 10\.245\.0\.0\/16\+ \]\) && \(source = RTS_BGP\) && \(!internal_peer\) \) then \{ reject; \}/);
    assert.match(text, /if \( \(\(defined\(ifname\) && ifname ~ "eth\*"\)\) \) then \{ krt_metric = 300; accept; \}/);
    assert.match(text, /if \( \(net = 0\.0\.0\.0\/0\) \) then \{ reject; \}/);
    assert.match(text, /\(net != 10\.0\.0\.0\/8\) && \(\(65000, 100\) ~ bgp_community\) && \(bgp_path ~ \[= 65001 65538 \* =\]\)/);
    assert.match(text, /\(internal_peer\) && \(\(65000, 1, 2\) ~ bgp_large_community\) && \(\(defined\(krt_metric\) && krt_metric = 512\)\) \) then \{ bgp_large_community\.add\(\(65000, 3, 4\)\); accept; \}/);
    const tor = protocolBlock(text, 'Global_192_0_2_1');
    assert.match(tor, /import filter \{ 'margay_filter_edge-policy\.v1_importV4'\(false\); accept; \};/);
    assert.match(tor, /export filter \{ 'margay_filter_edge-policy\.v1_exportV4'\(false\); margay_export_v4\(false\); reject; \};/);
    assert.match(warnings.join('\n'), /BGPFilter missing does not exist/);
    // Filters nobody uses are not rendered.
    assert.doesNotMatch(render(baseInput({ filters: [filter] })).text, /margay_filter_/);
  });

  it('long filter names are cut to BIRD\'s 64-character symbols, stably', () => {
    const long = 'a'.repeat(200);
    const name = filterFunctionName(long, 'importV6');
    assert.ok(name.length - 2 <= 64, name);
    // Stable across runs and releases: the same name as when this was written (BIRD configs on disk keep it).
    assert.equal(name, `'margay_filter_${'a'.repeat(32)}_c2a908d9_importV6'`);
    assert.notEqual(name, filterFunctionName(`${'a'.repeat(199)}b`, 'importV6'));
    const f = res('BGPFilter', long.slice(0, 253), { importV4: [{ action: 'Reject' }] });
    const { text } = render(baseInput({ filters: [f], peers: [res('BGPPeer', 'p', { peerIP: '192.0.2.1', asNumber: 65001, filters: [long.slice(0, 253)] })] }));
    assert.match(text, new RegExp(`function ${filterFunctionName(long.slice(0, 253), 'importV4')}\\(bool internal_peer\\)`));
  });
});

describe('bird config - communities and prefix advertisements', () => {
  it('adds standard and large communities to matching prefixes; the node\'s own list wins', () => {
    const global = bgpConfig({
      communities: [{ name: 'gold', value: '65000:100' }, { name: 'big', value: '65000:1:2' }],
      prefixAdvertisements: [{ cidr: '10.244.0.0/16', communities: ['gold', '65000:200'] }, { cidr: 'fd00:10:244::/48', communities: ['big'] }],
    });
    const { text } = render(baseInput({ bgpConfigurations: [global] }));
    assert.match(text, /function margay_communities_v4\(\)\n\{\n  if \( net ~ \[ 10\.244\.0\.0\/16\+ \] \) then \{ bgp_community\.add\(\(65000, 100\)\); bgp_community\.add\(\(65000, 200\)\); \}\n\}/);
    assert.match(text, /function margay_communities_v6\(\)\n\{\n  if \( net ~ \[ fd00:10:244::\/48\+ \] \) then \{ bgp_large_community\.add\(\(65000, 1, 2\)\); \}\n\}/);
    const nodeCfg = bgpConfig({ communities: [{ name: 'gold', value: '65000:100' }], prefixAdvertisements: [{ cidr: '10.244.1.0/26', communities: ['gold'] }] }, undefined, 'node.node-a');
    const withNode = render(baseInput({ bgpConfigurations: [global, nodeCfg] }));
    assert.match(withNode.text, /if \( net ~ \[ 10\.244\.1\.0\/26\+ \] \) then \{ bgp_community\.add\(\(65000, 100\)\); \}/);
    assert.doesNotMatch(withNode.text, /65000, 200/);
  });

  it('service address ranges are announced', () => {
    const { text } = render(baseInput({ bgpConfigurations: [bgpConfig({ serviceClusterIPs: [{ cidr: '10.96.0.0/12' }], serviceExternalIPs: [{ cidr: '203.0.113.0/24' }] })] }));
    assert.match(text, /route 10\.96\.0\.0\/12 blackhole;/);
    assert.match(text, /if \( net ~ \[ 10\.96\.0\.0\/12, 203\.0\.113\.0\/24 \] \) then accept;/);
  });
});

describe('bird config - graceful restart', () => {
  it('every session is graceful-restart capable; -R recovery waits at most gracefulRestartWait', () => {
    const { text } = render({ ...baseInput(), options: { gracefulRestartWait: 30 } });
    assert.match(text, /template bgp margay_peer \{[^]*?graceful restart on;/);
    assert.match(text, /^graceful restart wait 30;$/m);
    assert.match(text, /protocol kernel kernel4 \{[^}]*persist;[^}]*graceful restart;/);
  });
});

describe('bird config - BFD (Margay extension)', () => {
  it('margay.io/bfd on BGPConfiguration turns BFD on for the mesh', () => {
    const { text, peers } = render(baseInput({ bgpConfigurations: [bgpConfig({}, { 'margay.io/bfd': 'true', 'margay.io/bfd-interval-ms': '50', 'margay.io/bfd-multiplier': '4' })] }));
    assert.match(text, /protocol bfd margay_bfd \{/);
    assert.match(protocolBlock(text, 'Mesh_192_0_2_12'), /bfd \{ interval 50 ms; multiplier 4; \};/);
    assert.doesNotMatch(text, /bfd graceful/);
    assert.deepEqual(peers.map((p) => p.bfd), ['on', 'on']);
  });

  it('graceful mode: BFD down starts a graceful restart (Calico\'s bfd graceful)', () => {
    const { text } = render(baseInput({ bgpConfigurations: [bgpConfig({}, { 'margay.io/bfd': 'graceful' })] }));
    assert.match(protocolBlock(text, 'Mesh_192_0_2_12'), /bfd \{ interval 100 ms; multiplier 3; \};\n  bfd graceful;/);
  });

  it('node.<name> overrides the cluster setting; a bad value is a warning', () => {
    const { text, warnings } = render(
      baseInput({
        bgpConfigurations: [bgpConfig({}, { 'margay.io/bfd': 'true' }), bgpConfig({}, { 'margay.io/bfd': 'false', 'margay.io/bfd-multiplier': 'lots' }, 'node.node-a')],
      }),
    );
    assert.doesNotMatch(text, /protocol bfd/);
    assert.match(warnings.join('\n'), /margay\.io\/bfd-multiplier: "lots" is not an integer/);
  });

  it('per BGPPeer: the annotation, or failureDetectionMode BFDIfDirectlyConnected on a directly connected peer', () => {
    const { text, warnings } = render(
      baseInput({
        peers: [
          res('BGPPeer', 'tor', { peerIP: '192.0.2.1', asNumber: 65001, failureDetectionMode: 'BFDIfDirectlyConnected' }),
          res('BGPPeer', 'far', { peerIP: '10.0.0.1', asNumber: 65001, failureDetectionMode: 'BFDIfDirectlyConnected' }),
          res('BGPPeer', 'far-bfd', { peerIP: '10.0.0.2', asNumber: 65001 }, { annotations: { 'margay.io/bfd': 'true' } }),
          res('BGPPeer', 'far-nosrc', { peerIP: '10.0.0.3', asNumber: 65001, sourceAddress: 'None' }, { annotations: { 'margay.io/bfd': 'true' } }),
        ],
      }),
    );
    const tor = protocolBlock(text, 'Global_192_0_2_1');
    assert.match(tor, /direct;/, 'single-hop BFD needs a direct session');
    assert.match(tor, /bfd \{ interval 100 ms; multiplier 3; \};/);
    assert.doesNotMatch(protocolBlock(text, 'Global_10_0_0_1'), /bfd/);
    assert.match(protocolBlock(text, 'Global_10_0_0_2'), /multihop;[^]*bfd \{/);
    assert.doesNotMatch(protocolBlock(text, 'Global_10_0_0_3'), /bfd/);
    assert.match(warnings.join('\n'), /BGPPeer far-nosrc: BFD over a multihop session needs a source address/);
  });
});

describe('bird config - IPv6', () => {
  it('dual-stack nodes get an IPv6 mesh, IPv6 blocks and an IPv6 kernel filter', () => {
    const input = baseInput({
      nodes: [
        node('node-a', '192.0.2.11/24', { ipv6Address: 'fd00:192::11/64' }),
        node('node-b', '192.0.2.12/24', { ipv6Address: 'fd00:192::12/64' }),
        node('node-c', '192.0.2.13/24'),
      ],
      pools: [res('IPPool', 'v4', { cidr: '10.244.0.0/16' }), res('IPPool', 'v6', { cidr: 'fd00:10:244::/48' }), res('IPPool', 'v6x', { cidr: 'fd00:10:245::/48', vxlanMode: 'Always' })],
      affineBlocks: ['10.244.1.0/26', 'fd00:10:244:1::/122'],
      borrowedAddresses: ['fd00:10:244:2::5'],
    });
    const { text, peers } = render(input);
    assert.deepEqual(protocolNames(text), ['Mesh_192_0_2_12', 'Mesh_192_0_2_13', 'Mesh_fd00_192__12']);
    const v6 = protocolBlock(text, 'Mesh_fd00_192__12');
    assert.match(v6, /local fd00:192::11 as 64512;\n  neighbor fd00:192::12 as 64512;/);
    assert.match(v6, /ipv6 \{\n    import filter \{ accept; \};\n    export filter \{ margay_export_v6\(true\); reject; \};/);
    assert.doesNotMatch(v6, /ipv4 \{/);
    assert.match(text, /protocol static static6 \{\n  ipv6;\n  route fd00:10:244:1::\/122 blackhole;\n  route fd00:10:244:2::5\/128 blackhole;\n\}/);
    assert.match(text, /filter margay_kernel_v6[^]*?if \( net ~ \[ fd00:10:245::\/48\+ \] \) then reject;/);
    assert.equal(peers.find((p) => p.family === 6)?.address, 'fd00:192::12');
  });

  it('an IPv6-only node hashes its router id from its name', () => {
    const input = baseInput({ nodes: [node('node-a', undefined, { ipv6Address: 'fd00::11/64' }), node('node-b', undefined, { ipv6Address: 'fd00::12/64' })] });
    const { text } = render(input);
    // The first four bytes of SHA-256("node-a"): the same on every run, and another name's differs.
    assert.match(text, /^router id 102\.87\.15\.240;$/m);
    const other = render(baseInput({ nodeName: 'node-b', nodes: input.nodes })).text;
    assert.doesNotMatch(other, /^router id 102\.87\.15\.240;$/m);
    assert.deepEqual(protocolNames(text), ['Mesh_fd00__12']);
  });
});

describe('bird config - unnumbered (Margay extension)', () => {
  it('margay.io/peer-interface without peerIP: dynamic link-local peering, extended next hop, router advertisements', () => {
    const { text, peers } = render(baseInput({ peers: [res('BGPPeer', 'uplink', { node: 'node-a' }, { annotations: { 'margay.io/peer-interface': 'eth1' } })] }));
    const b = protocolBlock(text, 'Iface_eth1');
    assert.match(b, /local as 64512;\n  neighbor range fe80::\/10 external;\n  interface "eth1";\n  dynamic name "Iface_eth1_";\n  direct;\n  passive on;/);
    assert.match(b, /ipv4 \{[^]*?export filter \{ margay_export_v4\(false\); reject; \};\n    extended next hop on;/);
    assert.match(b, /ipv6 \{/);
    assert.match(text, /protocol radv margay_radv \{\n  ipv6;\n  interface "eth1" \{/);
    assert.equal(peers.find((p) => p.kind === 'unnumbered')?.remoteAs, 'external');
  });

  it('a known link-local address on an interface: an active session to fe80::x%iface (router advertisements too)', () => {
    const { text } = render(baseInput({ peers: [res('BGPPeer', 'uplink', { node: 'node-a', peerIP: 'fe80::1', asNumber: 65001 }, { annotations: { 'margay.io/peer-interface': 'eth1' } })] }));
    const b = protocolBlock(text, 'Global_fe80__1_eth1'.replace('Global', 'Node'));
    assert.match(b, /neighbor fe80::1%eth1 as 65001;\n  interface "eth1";\n  direct;/);
    assert.doesNotMatch(b, /passive/);
    assert.match(b, /ipv4 \{[^]*?extended next hop on;/);
    assert.match(text, /protocol radv margay_radv \{\n  ipv6;\n  interface "eth1" \{/, 'FRR accepts only peers it learned from router advertisements');
  });

  it('one BGPPeer with a node selector configures a rack: every uplink listed, on every node it selects, with BFD', () => {
    const rack = res('BGPPeer', 'rack-1', { nodeSelector: "rack == 'r1'" }, { annotations: { 'margay.io/peer-interface': 'uplink0, uplink1', 'margay.io/bfd': 'true', 'margay.io/bfd-interval-ms': '50' } });
    const nodes = [node('node-a', '192.0.2.11/32', {}, { rack: 'r1' }), node('node-b', '192.0.2.12/32', {}, { rack: 'r1' }), node('node-c', '192.0.2.13/32', {}, { rack: 'r2' })];
    const bgpConfigurations = [bgpConfig({ nodeToNodeMeshEnabled: false })];
    for (const nodeName of ['node-a', 'node-b']) {
      const { text, warnings } = render(baseInput({ nodeName, nodes, bgpConfigurations, peers: [rack] }));
      assert.deepEqual(warnings, []);
      assert.deepEqual(protocolNames(text), ['Iface_uplink0', 'Iface_uplink1']);
      for (const iface of ['uplink0', 'uplink1']) {
        const b = protocolBlock(text, `Iface_${iface}`);
        assert.match(b, new RegExp(`neighbor range fe80::/10 external;\n  interface "${iface}";\n  dynamic name "Iface_${iface}_";\n  direct;\n  passive on;`));
        assert.match(b, /bfd \{ interval 50 ms; multiplier 3; \};/, 'BFD on the unnumbered session');
      }
      assert.match(text, /protocol bfd margay_bfd \{/);
      assert.match(text, /protocol radv margay_radv \{\n  ipv6;\n  interface "uplink0" \{[^]*interface "uplink1" \{/);
    }
    assert.deepEqual(protocolNames(render(baseInput({ nodeName: 'node-c', nodes, bgpConfigurations, peers: [rack] })).text), [], 'another rack: no session');
  });

  it('peer-discovery neighbors: an active session to each router found on the uplink, instead of waiting there', () => {
    const peer = res('BGPPeer', 'rack', {}, { annotations: { 'margay.io/peer-interface': 'uplink0,uplink1', 'margay.io/peer-discovery': 'neighbors' } });
    const bgpConfigurations = [bgpConfig({ nodeToNodeMeshEnabled: false })];
    const { text, warnings } = render(baseInput({ bgpConfigurations, peers: [peer], linkNeighbors: { uplink0: ['fe80::1:2'], uplink1: [] } }));
    assert.deepEqual(warnings, []);
    // uplink0: the router found, no waiting session (its spawned sessions would hold the lock the
    // active one needs); uplink1, where none was found yet: waiting.
    assert.deepEqual(protocolNames(text), ['Iface_fe80__1_2_uplink0', 'Iface_uplink1']);
    const b = protocolBlock(text, 'Iface_fe80__1_2_uplink0');
    assert.match(b, /neighbor fe80::1:2%uplink0 external;\n  interface "uplink0";\n  direct;/);
    assert.doesNotMatch(b, /passive/);
    assert.match(b, /extended next hop on;/);
    // A link's errors are not the router's: a short back-off, soon forgotten, on both kinds of uplink session.
    for (const name of ['Iface_fe80__1_2_uplink0', 'Iface_uplink1']) {
      assert.match(protocolBlock(text, name), /\n  error wait time 1, 10;\n  error forget time 60;\n/, name);
    }
    assert.match(text, /\n  error wait time 5, 60;\n/, 'the template keeps its own for other sessions');
    // Without discovery the routers found are ignored: the host waits.
    const waiting = render(baseInput({ bgpConfigurations, peers: [res('BGPPeer', 'rack', {}, { annotations: { 'margay.io/peer-interface': 'uplink0' } })], linkNeighbors: { uplink0: ['fe80::1:2'] } }));
    assert.deepEqual(protocolNames(waiting.text), ['Iface_uplink0']);
    const bad = render(baseInput({ peers: [res('BGPPeer', 'rack', {}, { annotations: { 'margay.io/peer-interface': 'uplink0', 'margay.io/peer-discovery': 'sometimes' } })] }));
    assert.match(bad.warnings.join('\n'), /margay\.io\/peer-discovery: "sometimes" is not one of wait, neighbors/);
  });

  it('graceful restart of a waiting host: no waiting session while BIRD recovers, the routers found then kept as active sessions', () => {
    const peer = res('BGPPeer', 'rack', {}, { annotations: { 'margay.io/peer-interface': 'uplink0,uplink1' } });
    const bgpConfigurations = [bgpConfig({ nodeToNodeMeshEnabled: false })];
    const keptRouters = { uplink0: ['fe80::1:2'] };
    // -R: a waiting template would hold the recovery for `graceful restart wait`; only the active session.
    const recovering = render(baseInput({ bgpConfigurations, peers: [peer], keptRouters, recovery: true }));
    assert.deepEqual(protocolNames(recovering.text), ['Iface_fe80__1_2_uplink0']);
    assert.doesNotMatch(protocolBlock(recovering.text, 'Iface_fe80__1_2_uplink0'), /passive/);
    // Afterwards: the waiting sessions back, the kept active session unchanged (removing it would reset it).
    const after = render(baseInput({ bgpConfigurations, peers: [peer], keptRouters }));
    assert.deepEqual(protocolNames(after.text), ['Iface_fe80__1_2_uplink0', 'Iface_uplink0', 'Iface_uplink1']);
    assert.equal(protocolBlock(after.text, 'Iface_fe80__1_2_uplink0'), protocolBlock(recovering.text, 'Iface_fe80__1_2_uplink0'));
  });

  it('a peerIP with several interfaces is refused', () => {
    const { warnings, text } = render(baseInput({ peers: [res('BGPPeer', 'x', { peerIP: 'fe80::1', asNumber: 65001 }, { annotations: { 'margay.io/peer-interface': 'a,b' } })] }));
    assert.match(warnings.join('\n'), /a peerIP is on one interface, but margay\.io\/peer-interface lists 2; left out/);
    assert.doesNotMatch(text, /fe80::1/);
  });

  it('an interface name BIRD cannot quote is refused', () => {
    const { warnings } = render(baseInput({ peers: [res('BGPPeer', 'x', {}, { annotations: { 'margay.io/peer-interface': 'eth"1' } })] }));
    assert.match(warnings.join('\n'), /is not an interface name/);
  });
});

describe('bird config - bird -p itself', () => {
  it('catches what the renderer could get wrong (the check is real)', () => {
    assert.throws(() => assertBirdParses('router id 1.2.3.4;\nprotocol bgp x { neighbor 10.0.0.1 as; }\n'), /bird -p rejected/);
  });
});
