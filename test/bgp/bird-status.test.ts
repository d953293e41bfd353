/**
 * BIRD status: the control-socket client (against a fake BIRD speaking the real wire format,
 * captured from BIRD 2.0.12), the parsers, and `margay node status`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { BirdCommandError, BirdConnection, birdCommand } from '../../src/bgp/bird-client.ts';
import { addressFromProtocolName, bgpPeers, parseBfdSessions, parseProtocols } from '../../src/bgp/bird-status.ts';
import { borderedTable, formatSince, renderNodeStatus } from '../../src/cli/commands/node.ts';
import { margay } from '../cli/helpers.ts';

const RAW = readFileSync(new URL('./fixtures/show-protocols-bfd.raw', import.meta.url), 'utf8');
const [GREETING, PROTOCOLS_REPLY, BFD_REPLY] = (() => {
  const lines = RAW.split('\n');
  const greeting = `${lines[0]}\n`;
  const rest = lines.slice(1).join('\n');
  const cut = rest.indexOf('\n0000 \n') + '\n0000 \n'.length;
  return [greeting, rest.slice(0, cut), rest.slice(cut)];
})();

/** A BIRD 2.0.12 established mesh session as birdc prints it. */
const ESTABLISHED = `BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
Mesh_192_0_2_12 BGP        ---        up     2026-11-26T04:43:46  Established   
  BGP state:          Established
    Neighbor address: 192.0.2.12
    Neighbor AS:      64512
    Local AS:         64512
    Neighbor ID:      192.0.2.12
    Session:          internal multihop AS4
    Source address:   192.0.2.11
    Hold timer:       163.400/240
    Keepalive timer:  46.816/80
  Channel ipv4
    State:          UP
    Table:          master4
    Preference:     100
    Input filter:   ACCEPT
    Output filter:  (unnamed)
    Routes:         3 imported, 1 exported, 3 preferred
    BGP Next hop:   192.0.2.11
Iface_uplink0 BGP        ---        start  2026-11-26T04:43:40  Passive       
Iface_uplink0_1 BGP        ---        up     2026-11-26T04:43:42  Established   
  BGP state:          Established
    Neighbor address: fe80::4cd6:6eff:fe65:f380%uplink0
    Neighbor AS:      65001
  Channel ipv4
    Routes:         2 imported, 4 exported, 2 preferred
  Channel ipv6
    Routes:         0 imported, 1 exported, 0 preferred
Mesh_fd00_192__13 BGP        ---        start  2026-11-26 04:43:40  Connect
`;

/** A fake BIRD: the captured greeting, then canned replies per command (unknown: a 9001 error). */
function fakeBird(path: string, replies: Record<string, string>): Promise<Server> {
  const server = createServer((socket) => {
    socket.write(GREETING);
    let buf = '';
    socket.on('data', (chunk) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const cmd = buf.slice(0, nl);
        buf = buf.slice(nl + 1);
        socket.write(replies[cmd] ?? '9001 syntax error, unexpected CF_SYM_UNDEFINED\n');
      }
    });
  });
  return new Promise((resolve) => server.listen(path, () => resolve(server)));
}

describe('bird status - parsers', () => {
  it('parses show protocols all: state, since, info, details, route counts', () => {
    const protocols = parseProtocols(ESTABLISHED);
    assert.deepEqual(protocols.map((p) => [p.name, p.state, p.since, p.info]), [
      ['Mesh_192_0_2_12', 'up', '2026-11-26T04:43:46', 'Established'],
      ['Iface_uplink0', 'start', '2026-11-26T04:43:40', 'Passive'],
      ['Iface_uplink0_1', 'up', '2026-11-26T04:43:42', 'Established'],
      ['Mesh_fd00_192__13', 'start', '2026-11-26 04:43:40', 'Connect'],
    ]);
    assert.equal(protocols[0]!.details['Source address'], '192.0.2.11');
    assert.deepEqual(protocols[0]!.channels, { ipv4: { imported: 3, exported: 1, preferred: 3 } });
  });

  it('turns BGP protocols into peers with calicoctl types; unnumbered sessions show the router link-local address', () => {
    const peers = bgpPeers(parseProtocols(ESTABLISHED));
    assert.deepEqual(
      peers.map((p) => [p.protocol, p.type, p.family, p.address, p.interface, p.info, p.neighborAs, p.routes?.imported]),
      [
        ['Mesh_192_0_2_12', 'node-to-node mesh', 4, '192.0.2.12', undefined, 'Established', 64512, 3],
        ['Iface_uplink0_1', 'unnumbered', 6, 'fe80::4cd6:6eff:fe65:f380', 'uplink0', 'Established', 65001, 2],
        ['Mesh_fd00_192__13', 'node-to-node mesh', 6, 'fd00:192::13', undefined, 'Connect', undefined, undefined],
      ],
    );
  });

  it('decodes Calico protocol names', () => {
    assert.deepEqual(addressFromProtocolName('Global_10_0_0_1_port_1179'), { address: '10.0.0.1', port: 1179 });
    assert.deepEqual(addressFromProtocolName('Node_fd00__1'), { address: 'fd00::1' });
    assert.equal(addressFromProtocolName('kernel4'), undefined);
  });

  it('parses show bfd sessions, with either time format', () => {
    const text = 'margay_bfd:\nIP address                Interface  State      Since         Interval  Timeout\n192.0.2.12                ---        Up         04:43:46.251    0.100    0.300\nfe80::1                   eth1       Down       2026-11-26 04:43:40    1.000    0.000\n';
    assert.deepEqual(parseBfdSessions(text), [
      { protocol: 'margay_bfd', address: '192.0.2.12', interface: '---', state: 'Up', since: '04:43:46.251', interval: 0.1, timeout: 0.3 },
      { protocol: 'margay_bfd', address: 'fe80::1', interface: 'eth1', state: 'Down', since: '2026-11-26 04:43:40', interval: 1, timeout: 0 },
    ]);
  });

  it('formats SINCE as calicoctl does: the time today, the date otherwise', () => {
    const now = new Date(2026, 10, 26, 12, 0, 0);
    assert.equal(formatSince('2026-11-26T04:43:46', now), '04:43:46');
    assert.equal(formatSince('2026-11-25T04:43:46', now), '2026-11-25');
    assert.equal(formatSince('04:43:46.251', now), '04:43:46');
  });

  it('draws calicoctl-style bordered tables', () => {
    assert.equal(borderedTable(['A', 'LONG'], [['xyz', 'b']]), '+-----+------+\n|  A  | LONG |\n+-----+------+\n| xyz | b    |\n+-----+------+\n');
  });
});

describe('bird status - control socket client and margay node status', () => {
  let dir: string;
  let socket: string;
  let server: Server;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'margay-birdc-'));
    socket = join(dir, 'bird.ctl');
    server = await fakeBird(socket, { 'show protocols all': PROTOCOLS_REPLY, 'show bfd sessions': BFD_REPLY });
  });
  after(() => {
    server?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('speaks the wire format: codes stripped, continuations joined, errors typed', async () => {
    const conn = await BirdConnection.open(socket);
    try {
      assert.equal(conn.banner, 'BIRD 2.0.12 ready.');
      const reply = await conn.command('show protocols all');
      assert.equal(reply.code, 0);
      assert.match(reply.text, /^Name {7}Proto/);
      assert.match(reply.text, /\nGlobal_192_0_2_1 BGP +--- +start +2026-11-26T05:03:30 +Active +Socket: Connection closed\n {2}BGP state: +Active\n {4}Neighbor address: 192\.0\.2\.1/);
      await assert.rejects(conn.command('show nonsense'), (err: unknown) => err instanceof BirdCommandError && err.code === 9001);
      assert.equal((await conn.command('show nonsense', { allowError: true })).code, 9001);
    } finally {
      conn.close();
    }
    const peers = bgpPeers(parseProtocols((await birdCommand(socket, 'show protocols all')).text));
    assert.deepEqual(peers.map((p) => [p.address, p.port, p.type, p.state, p.info, p.lastError]), [
      ['192.0.2.1', undefined, 'global', 'start', 'Active Socket: Connection closed', 'Socket: Connection closed'],
      ['192.0.2.12', undefined, 'node-to-node mesh', 'start', 'Passive', undefined],
      ['127.0.0.1', 1179, 'node specific', 'start', 'Active Socket: Connection refused', 'Socket: Connection refused'],
    ]);
  });

  it('margay node status prints calicoctl\'s tables plus BFD', async () => {
    const run = await margay(['node', 'status', '--bird-socket', socket]);
    assert.equal(run.code, 0, run.stderr);
    const lines = run.stdout.split('\n');
    assert.equal(lines[0], 'Calico process is running.');
    assert.equal(lines[2], 'IPv4 BGP status');
    assert.match(lines[4]!, /^\| PEER ADDRESS \| +PEER TYPE +\| STATE \| +SINCE +\| +INFO +\| BFD \|$/);
    assert.match(run.stdout, /\| 192\.0\.2\.12 +\| node-to-node mesh \| start \| [\d:-]+ +\| Passive +\| - +\|/);
    assert.match(run.stdout, /\| 127\.0\.0\.1 +\| node specific +\| start \|/);
    assert.match(run.stdout, /IPv6 BGP status\nNo IPv6 peers found\.\n/);
    assert.match(run.stdout, /BFD sessions\n\+[-+]+\+\n\| PEER ADDRESS \| INTERFACE \| STATE \| +SINCE +\| INTERVAL \| TIMEOUT \|\n\+[-+]+\+\n\| 192\.0\.2\.99 +\| lo +\| Down +\| [\d:-]+ +\| 1000ms +\| 0ms +\|/);
  });

  it('says the process is not running when BIRD does not answer', async () => {
    const run = await margay(['node', 'status', '--bird-socket', join(dir, 'nothing.ctl')]);
    assert.equal(run.code, 1);
    assert.equal(run.stdout, 'Calico process is not running.\n');
    assert.match(run.stderr, /BIRD does not answer on .*nothing\.ctl/);
    const both = await margay(['node', 'status', '--bird-socket', socket, '--netns', 'x']);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /cannot be used together/);
  });

  it('renders unnumbered peers and BFD state per peer', () => {
    const text = renderNodeStatus(
      {
        birdVersion: 'BIRD 2.0.12',
        peers: bgpPeers(parseProtocols(ESTABLISHED)),
        bfd: [{ protocol: 'margay_bfd', address: '192.0.2.12', interface: '---', state: 'Up', since: '2026-11-26T04:43:46', interval: 0.1, timeout: 0.3 }],
      },
      new Date(2026, 10, 26, 12),
    );
    assert.match(text, /\| 192\.0\.2\.12 +\| node-to-node mesh +\| up +\| 04:43:46 +\| Established \| Up  \|/);
    assert.match(text, /\| fe80::4cd6:6eff:fe65:f380%uplink0 \| unnumbered \(uplink0\) \| up +\|/);
    assert.match(text, /\| 192\.0\.2\.12 +\| --- +\| Up +\| 04:43:46 \| 100ms +\| 300ms +\|/);
  });
});
