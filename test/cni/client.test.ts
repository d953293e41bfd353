import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startCniService, type CniServer } from '../../src/cni/server.ts';
import { versionInfo } from '../../src/cni/service.ts';
import { CLIENT, ensureClient, IPAM_CLIENT, runPlugin } from './binary.ts';
import { makeService } from './fakes.ts';

interface Seen {
  url: string | undefined;
  headers: IncomingHttpHeaders;
  body: string;
}

let dir: string;
let server: Server;
let socket: string;
const seen: Seen[] = [];
let reply = { status: 200, body: '{"cniVersion":"1.0.0","ips":[]}\n' };

before(async () => {
  ensureClient();
  dir = mkdtempSync(join(tmpdir(), 'margay-cni-client-'));
  socket = join(dir, 'agent.sock');
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      seen.push({ url: req.url, headers: req.headers, body });
      res.writeHead(reply.status, { 'content-length': Buffer.byteLength(reply.body), connection: 'close' });
      res.end(reply.body);
    });
  });
  await new Promise<void>((r) => server.listen(socket, r));
});

after(async () => {
  await new Promise<void>((r) => server.close(() => r()));
  rmSync(dir, { recursive: true, force: true });
});

const conf = '{"cniVersion":"1.0.0","name":"mnet","type":"margay"}';

/** A socket file left by a process that was killed (nothing listens; connecting is refused). */
function deadSocket(name: string): string {
  const path = join(dir, name);
  const script = `const s=require('net').createServer().listen(${JSON.stringify(path)},()=>process.kill(process.pid,'SIGKILL'))`;
  spawnSync(process.execPath, ['-e', script]);
  assert.ok(existsSync(path), 'the killed listener leaves its socket file');
  return path;
}

describe('cni thin client - forwarding', () => {
  it('sends stdin and every CNI variable that is set, and prints the answer', async () => {
    seen.length = 0;
    reply = { status: 200, body: '{"cniVersion":"1.0.0","ips":[{"address":"10.0.0.1/32"}]}\n' };
    const run = await runPlugin(
      CLIENT,
      { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_ARGS: '', CNI_PATH: '/opt/cni/bin:/usr/lib/cni', MARGAY_CNI_SOCKET: socket },
      conf,
    );
    assert.equal(run.code, 0);
    assert.equal(run.stdout, reply.body);
    assert.equal(run.stderr, '');
    const s = seen[0]!;
    assert.equal(s.url, '/v1/cni');
    assert.equal(s.body, conf);
    assert.equal(s.headers['x-cni_command'], 'ADD');
    assert.equal(s.headers['x-cni_containerid'], 'abc');
    assert.equal(s.headers['x-cni_path'], '/opt/cni/bin:/usr/lib/cni');
    assert.equal(s.headers['x-cni_args'], '');
  });

  it('leaves out unset variables', async () => {
    seen.length = 0;
    await runPlugin(CLIENT, { CNI_COMMAND: 'STATUS', MARGAY_CNI_SOCKET: socket }, conf);
    assert.equal(seen[0]!.headers['x-cni_netns'], undefined);
    assert.equal(seen[0]!.headers['x-cni_args'], undefined);
  });

  it('an error answer: prints the error object and exits 1', async () => {
    reply = { status: 500, body: '{"cniVersion":"1.0.0","code":7,"msg":"bad"}\n' };
    const run = await runPlugin(CLIENT, { CNI_COMMAND: 'ADD', MARGAY_CNI_SOCKET: socket }, conf);
    assert.equal(run.code, 1);
    assert.deepEqual(run.json, { cniVersion: '1.0.0', code: 7, msg: 'bad' });
  });

  it('named margay-ipam, it asks for the IPAM service', async () => {
    seen.length = 0;
    reply = { status: 200, body: '{}' };
    await runPlugin(IPAM_CLIENT, { CNI_COMMAND: 'DEL', MARGAY_CNI_SOCKET: socket }, conf);
    assert.equal(seen[0]!.url, '/v1/ipam');
  });

  it('the socket: MARGAY_CNI_SOCKET, else the configuration’s agent_socket', async () => {
    seen.length = 0;
    reply = { status: 200, body: '{}' };
    const withField = JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'margay', agent_socket: socket });
    assert.equal((await runPlugin(CLIENT, { CNI_COMMAND: 'DEL' }, withField)).code, 0);
    assert.equal(seen.length, 1);
    const elsewhere = JSON.stringify({ cniVersion: '1.0.0', name: 'n', type: 'margay', agent_socket: join(dir, 'none.sock') });
    assert.equal((await runPlugin(CLIENT, { CNI_COMMAND: 'DEL', MARGAY_CNI_SOCKET: socket }, elsewhere)).code, 0);
    assert.equal(seen.length, 2);
  });
});

describe('cni thin client - errors it reports itself', () => {
  it('agent unreachable: code 11 "try again later", in the configuration’s version', async () => {
    const run = await runPlugin(CLIENT, { CNI_COMMAND: 'ADD', MARGAY_CNI_SOCKET: join(dir, 'missing.sock') }, '{"cniVersion":"0.4.0","name":"n"}');
    assert.equal(run.code, 1);
    assert.equal(run.json?.code, 11);
    assert.equal(run.json?.cniVersion, '0.4.0');
    assert.match(String(run.json?.msg), /try again later/);
    assert.match(String(run.json?.details), /missing\.sock/);
  });

  it('agent unreachable: STATUS says not available (50)', async () => {
    const run = await runPlugin(CLIENT, { CNI_COMMAND: 'STATUS', MARGAY_CNI_SOCKET: join(dir, 'missing.sock') }, conf);
    assert.equal(run.code, 1);
    assert.equal(run.json?.code, 50);
  });

  it('a socket nobody listens on (the agent was killed): 11', async () => {
    const path = deadSocket('dead.sock');
    const run = await runPlugin(CLIENT, { CNI_COMMAND: 'DEL', MARGAY_CNI_SOCKET: path }, conf);
    assert.equal(run.json?.code, 11);
    assert.match(String(run.json?.details), /Connection refused/);
  });

  it('the agent hangs up without answering: 11', async () => {
    const path = join(dir, 'rude.sock');
    const s = createNetServer((c) => c.once('data', () => c.destroy()));
    await new Promise<void>((r) => s.listen(path, r));
    try {
      const run = await runPlugin(CLIENT, { CNI_COMMAND: 'ADD', MARGAY_CNI_SOCKET: path }, conf);
      assert.equal(run.json?.code, 11);
    } finally {
      await new Promise<void>((r) => s.close(() => r()));
    }
  });

  it('the agent does not answer within MARGAY_CNI_TIMEOUT: 11', async () => {
    const path = join(dir, 'slow.sock');
    const s = createNetServer(() => undefined);
    await new Promise<void>((r) => s.listen(path, r));
    try {
      const run = await runPlugin(CLIENT, { CNI_COMMAND: 'ADD', MARGAY_CNI_SOCKET: path, MARGAY_CNI_TIMEOUT: '1' }, conf);
      assert.equal(run.json?.code, 11);
      assert.match(String(run.json?.msg), /in time/);
    } finally {
      s.close();
      await new Promise<void>((r) => setImmediate(r));
    }
  });

  it('a line break in a variable cannot travel: 4', async () => {
    const run = await runPlugin(CLIENT, { CNI_COMMAND: 'ADD', CNI_ARGS: 'A=1\r\nX-Evil: 1', MARGAY_CNI_SOCKET: socket }, conf);
    assert.equal(run.json?.code, 4);
  });

  it('VERSION is answered locally, the same as the agent’s answer, with no agent', async () => {
    const run = await runPlugin(CLIENT, { CNI_COMMAND: 'VERSION', MARGAY_CNI_SOCKET: join(dir, 'missing.sock') }, '{"cniVersion":"1.0.0"}');
    assert.equal(run.code, 0);
    assert.deepEqual(run.json, versionInfo());
  });
});

describe('cni thin client - through the real endpoint', () => {
  let cni: CniServer;
  let t: Awaited<ReturnType<typeof makeService>>;
  before(async () => {
    t = await makeService();
    cni = await startCniService({
      store: t.store,
      ipam: t.ipam,
      hostname: 'node1',
      plumbing: t.plumbing,
      socketPath: join(dir, 'cni.sock'),
      waitForEndpointProgrammed: async () => undefined,
    });
  });
  after(async () => {
    await cni.close();
  });

  it('ADD, then DEL, through the binary', async () => {
    const e = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'bin1', CNI_NETNS: '/run/netns/c1', CNI_IFNAME: 'eth0', CNI_PATH: '/usr/lib/cni', MARGAY_CNI_SOCKET: cni.socketPath };
    const add = await runPlugin(CLIENT, e, conf);
    assert.equal(add.code, 0, add.stdout);
    assert.match(String((add.json?.ips as { address: string }[])[0]?.address), /^10\.244\.0\.\d+\/32$/);
    const del = await runPlugin(CLIENT, { ...e, CNI_COMMAND: 'DEL' }, conf);
    assert.equal(del.code, 0, del.stdout);
    assert.equal(del.stdout, '');
    assert.equal(t.plumbing.veths.size, 0);
  });

  it('an invalid request comes back as a CNI error with exit 1', async () => {
    const run = await runPlugin(CLIENT, { CNI_COMMAND: 'ADD', MARGAY_CNI_SOCKET: cni.socketPath }, conf);
    assert.equal(run.code, 1);
    assert.equal(run.json?.code, 4);
    assert.match(String(run.json?.msg), /CNI_CONTAINERID/);
  });

  it('a second agent cannot take over a live socket; a stale one is replaced', async () => {
    const start = (socketPath: string) =>
      startCniService({ store: t.store, ipam: t.ipam, hostname: 'node1', plumbing: t.plumbing, socketPath, waitForEndpointProgrammed: async () => undefined });
    await assert.rejects(start(cni.socketPath), /another process/);
    const restarted = await start(deadSocket('stale.sock'));
    try {
      const run = await runPlugin(CLIENT, { CNI_COMMAND: 'VERSION', MARGAY_CNI_SOCKET: restarted.socketPath }, conf);
      assert.equal(run.code, 0);
    } finally {
      await restarted.close();
    }
  });
});

describe('cni thin client - any input gets one well-formed error object with the spec code', () => {
  const missing = () => join(dir, 'missing.sock');
  const run = (env: Record<string, string | undefined>, stdin: string) => runPlugin(CLIENT, { MARGAY_CNI_SOCKET: missing(), ...env }, stdin);

  it('cniVersion with a control character: escaped (1), or a raw one: not JSON (6); never echoed as the version', async () => {
    const escaped = await run({ CNI_COMMAND: 'ADD' }, '{"cniVersion":"1.0.0\\u0001","name":"n"}');
    assert.deepEqual(escaped.json, { cniVersion: '1.1.0', code: 1, msg: 'incompatible CNI version: Margay supports 0.3.1, 0.4.0, 1.0.0, 1.1.0', details: '1.0.0\u0001' });
    const raw = await run({ CNI_COMMAND: 'ADD' }, '{"cniVersion":"1.0\u0001","name":"n"}');
    assert.equal(raw.json?.code, 6);
    assert.equal(raw.json?.cniVersion, '1.1.0');
  });

  it('"9\\u0030" is the version "90": incompatible (1), reported as 1.1.0', async () => {
    const r = await run({ CNI_COMMAND: 'ADD' }, '{"cniVersion":"9\\u0030","name":"n"}');
    assert.deepEqual([r.json?.code, r.json?.cniVersion, r.json?.details], [1, '1.1.0', '90']);
  });

  it('an unknown or missing CNI_COMMAND is invalid input (4), agent or not', async () => {
    for (const cmd of [undefined, '', 'FOO', 'add', 'ADD\u0001']) {
      const r = await run({ CNI_COMMAND: cmd }, conf);
      assert.equal(r.json?.code, 4, `CNI_COMMAND=${JSON.stringify(cmd)}: ${r.stdout}`);
    }
  });

  it('environment values are validated: MARGAY_CNI_TIMEOUT, control characters, length (4)', async () => {
    for (const t of ['abc', '0', '-1', '1.5', '3601', '99999999999999999999']) {
      const r = await run({ CNI_COMMAND: 'ADD', MARGAY_CNI_TIMEOUT: t }, conf);
      assert.equal(r.json?.code, 4, `MARGAY_CNI_TIMEOUT=${t}: ${r.stdout}`);
      assert.match(String(r.json?.msg), /MARGAY_CNI_TIMEOUT must be a whole number of seconds from 1 to 3600/);
    }
    assert.equal((await run({ CNI_COMMAND: 'ADD', CNI_ARGS: 'K8S_POD_NAME=a\u001b[31m' }, conf)).json?.code, 4);
    assert.equal((await run({ CNI_COMMAND: 'ADD', CNI_PATH: 'x'.repeat(9000) }, conf)).json?.code, 4);
  });

  it('the configuration: not JSON or not an object (6), too large or without cniVersion (7)', async () => {
    assert.equal((await run({ CNI_COMMAND: 'ADD' }, '{"cniVersion":')).json?.code, 6);
    assert.equal((await run({ CNI_COMMAND: 'DEL' }, '')).json?.code, 6);
    assert.equal((await run({ CNI_COMMAND: 'ADD' }, '["cniVersion"]')).json?.code, 6);
    assert.equal((await run({ CNI_COMMAND: 'ADD' }, '{"name":"n"}')).json?.code, 7);
    assert.equal((await run({ CNI_COMMAND: 'ADD' }, `{"cniVersion":"1.0.0","x":"${'y'.repeat(1 << 20)}"}`)).json?.code, 7);
  });

  it('an agent answer that is not a CNI error object becomes one (999)', async () => {
    reply = { status: 400, body: '' };
    const r = await runPlugin(CLIENT, { CNI_COMMAND: 'ADD', MARGAY_CNI_SOCKET: socket }, conf);
    assert.deepEqual(r.json, { cniVersion: '1.0.0', code: 999, msg: 'the margay agent refused the request without a CNI error object', details: 'HTTP 400' });
  });
});
