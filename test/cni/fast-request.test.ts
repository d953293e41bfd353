import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fastResponse, parseFastHead } from '../../src/cni/fast-request.ts';
import { startCniService, type CniServer } from '../../src/cni/server.ts';
import { makeService } from './fakes.ts';

/** The head native/cni-client.c sends (before the blank line). */
function clientHead(path = '/v1/cni', vars: [string, string][] = [['CNI_COMMAND', 'ADD'], ['CNI_CONTAINERID', 'c1']], length = 10): string {
  return [`POST ${path} HTTP/1.1`, 'Host: margay', 'Connection: close', 'Content-Type: application/json', `Content-Length: ${length}`, ...vars.map(([k, v]) => `X-${k}: ${v}`)].join('\r\n');
}

describe('the thin client request, the short way: parsing', () => {
  it("takes the client's shape: route, variables, body length", () => {
    assert.deepEqual(parseFastHead(clientHead(), 1024), { plugin: 'cni', env: { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'c1' }, contentLength: 10 });
    assert.deepEqual(parseFastHead(clientHead('/v1/ipam', [['CNI_ARGS', 'IgnoreUnknown=1;K8S_POD_NAME=a b']]), 1024), {
      plugin: 'ipam',
      env: { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAME=a b' },
      contentLength: 10,
    });
  });

  it('reads header names in any case and values without surrounding blanks, as node does', () => {
    const head = 'POST /v1/cni HTTP/1.1\r\nhOST: m\r\ncontent-length:3\r\nx-cni_netns: \t/run/netns/x \r\nX-Unknown: y';
    assert.deepEqual(parseFastHead(head, 1024), { plugin: 'cni', env: { CNI_NETNS: '/run/netns/x' }, contentLength: 3 });
  });

  it('hands everything else to node: routes, methods, versions', () => {
    for (const line of ['GET /v1/version HTTP/1.1', 'POST /v1/endpoints HTTP/1.1', 'POST /v1/cni?x=1 HTTP/1.1', 'PUT /v1/cni HTTP/1.1', 'POST /v1/cni HTTP/1.0', 'post /v1/cni HTTP/1.1']) {
      assert.equal(parseFastHead(`${line}\r\nHost: m\r\nContent-Length: 0`, 1024), undefined, line);
    }
  });

  it('hands to node what it does not implement or what is not the client’s shape', () => {
    const base = clientHead();
    for (const extra of ['Expect: 100-continue', 'Transfer-Encoding: chunked', 'Upgrade: h2c', 'X-CNI_COMMAND: DEL', 'Content-Length: 10', ' folded', 'no colon', ': empty name', 'Bad Name: x', 'X-CNI_ARGS: a\x01b']) {
      assert.equal(parseFastHead(`${base}\r\n${extra}`, 1024), undefined, JSON.stringify(extra));
    }
    for (const length of ['', 'x', '-1', '1e3', '1234567890']) {
      assert.equal(parseFastHead(`POST /v1/cni HTTP/1.1\r\nHost: m\r\nContent-Length: ${length}`, 1e12), undefined, length);
    }
    for (const line of ['constructor', '__proto__', 'toString', 'hasOwnProperty']) {
      assert.equal(parseFastHead(`${line}\r\nHost: m\r\nContent-Length: 0\r\nX-CNI_COMMAND: ADD`, 1024), undefined, `inherited member ${line}`);
    }
    assert.equal(parseFastHead('POST /v1/cni HTTP/1.1\r\nHost: margay', 1024), undefined, 'no length');
    assert.equal(parseFastHead('POST /v1/cni HTTP/1.1\r\nContent-Length: 0', 1024), undefined, 'no host: node answers 400');
    assert.equal(parseFastHead(clientHead('/v1/cni', [], 1025), 1024), undefined, 'over the limit: node answers 413');
    assert.ok(parseFastHead(clientHead('/v1/cni', [], 1024), 1024));
  });

  it('the answer is one write with what the client reads: status line, length, close', () => {
    assert.equal(fastResponse(200, 'OK', '{"a":"é"}\n'), 'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\nConnection: close\r\n\r\n{"a":"é"}\n');
  });
});

describe('the thin client request, the short way: the socket', () => {
  let dir: string;
  let cni: CniServer;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'margay-cni-fast-'));
    const t = await makeService();
    cni = await startCniService({ store: t.store, ipam: t.ipam, hostname: 'node1', plumbing: t.plumbing, socketPath: join(dir, 'cni.sock'), waitForEndpointProgrammed: async () => undefined });
  });
  after(async () => {
    await cni.close();
    rmSync(dir, { recursive: true, force: true });
  });

  /** Sends `parts` one write at a time (each after the previous one was flushed, with a pause); resolves with everything read until the agent closes. */
  function raw(parts: (string | Buffer)[]): Promise<string> {
    return new Promise((resolve, reject) => {
      const s = connect(cni.socketPath);
      let out = '';
      s.on('data', (d) => (out += d));
      s.on('end', () => resolve(out));
      s.on('error', reject);
      s.once('connect', async () => {
        for (const p of parts) {
          await new Promise<void>((r) => s.write(p, () => r()));
          await new Promise((r) => setTimeout(r, 5));
        }
      });
    });
  }

  const conf = '{"cniVersion":"1.0.0","name":"mnet","type":"margay"}';
  const add = (id: string): string => `${clientHead('/v1/cni', [['CNI_COMMAND', 'ADD'], ['CNI_CONTAINERID', id], ['CNI_NETNS', '/run/netns/c1'], ['CNI_IFNAME', 'eth0']], Buffer.byteLength(conf))}\r\n\r\n${conf}`;

  it('answers a request that arrives in pieces (head split anywhere, body after)', async () => {
    const req = add('fast1');
    const cut = req.indexOf('\r\n\r\n');
    const answer = await raw([req.slice(0, 7), req.slice(7, cut + 2), req.slice(cut + 2, cut + 5), req.slice(cut + 5, cut + 20), req.slice(cut + 20)]);
    assert.match(answer, /^HTTP\/1\.1 200 OK\r\n/);
    const body = JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { ips: { address: string }[] };
    assert.match(body.ips[0]!.address, /^10\.244\.0\.\d+\/32$/);
  });

  it('an error answer keeps its status and CNI error object', async () => {
    const answer = await raw([`${clientHead('/v1/cni', [['CNI_COMMAND', 'ADD']], Buffer.byteLength(conf))}\r\n\r\n${conf}`]);
    assert.match(answer, /^HTTP\/1\.1 500 Internal Server Error\r\n/);
    assert.equal((JSON.parse(answer.slice(answer.indexOf('\r\n\r\n') + 4)) as { code: number }).code, 4);
  });

  it('hands other requests to node, with the bytes already read: GET, Expect, chunked bodies, 404, 413', async () => {
    const version = await raw(['GET /v1/ver', 'sion HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n']);
    assert.match(version, /^HTTP\/1\.1 200 OK\r\n[\s\S]*"supportedVersions"/);
    const missing = await raw(['POST /v1/nothing HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nConnection: close\r\n\r\n']);
    assert.match(missing, /^HTTP\/1\.1 404 /);
    // node's own client: no length (chunked) and Expect: 100-continue, as curl sends for large bodies.
    const viaNode = (headers: Record<string, string>): Promise<{ status: number; body: string }> =>
      new Promise((resolve, reject) => {
        const r = request({ socketPath: cni.socketPath, method: 'POST', path: '/v1/cni', headers: { 'x-cni_command': 'VERSION', ...headers } }, (res) => {
          let body = '';
          res.on('data', (d) => (body += d));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        });
        r.on('error', reject);
        if (headers.expect) r.on('continue', () => r.end(conf));
        else {
          r.write(conf.slice(0, 10));
          setTimeout(() => r.end(conf.slice(10)), 5);
        }
      });
    const variants: Record<string, string>[] = [{ 'transfer-encoding': 'chunked' }, { expect: '100-continue', 'content-length': String(conf.length) }];
    for (const headers of variants) {
      const answer = await viaNode(headers);
      assert.equal(answer.status, 200, JSON.stringify(headers));
      assert.deepEqual((JSON.parse(answer.body) as { supportedVersions: string[] }).supportedVersions.includes('1.0.0'), true);
    }
    const tooLarge = await raw([`POST /v1/cni HTTP/1.1\r\nHost: x\r\nContent-Length: ${2 * 1024 * 1024}\r\nConnection: close\r\n\r\n`, Buffer.alloc(2 * 1024 * 1024, 32)]);
    assert.match(tooLarge, /^HTTP\/1\.1 413 /);
    const noHost = await raw([`POST /v1/cni HTTP/1.1\r\nContent-Length: ${conf.length}\r\nConnection: close\r\n\r\n${conf}`]);
    assert.match(noHost, /^HTTP\/1\.1 400 /);
    // A head ended by bare line feeds: node answers it (at once, not after the head's deadline).
    const bareLf = await raw([`POST /v1/cni HTTP/1.1\nHost: x\nConnection: close\nContent-Length: ${conf.length}\nX-CNI_COMMAND: VERSION\n\n${conf}`]);
    assert.match(bareLf, /^HTTP\/1\.1 (200|400) /);
    const badLine = await raw([`constructor\r\nHost: x\r\nContent-Length: ${conf.length}\r\nX-CNI_COMMAND: ADD\r\n\r\n${conf}`]);
    assert.match(badLine, /^HTTP\/1\.1 400 /);
  });

  it('two requests at once are answered each on its own connection', async () => {
    const [a, b] = await Promise.all([raw([add('fast2')]), raw([add('fast3')])]);
    const ip = (s: string): string => (JSON.parse(s.slice(s.indexOf('\r\n\r\n') + 4)) as { ips: { address: string }[] }).ips[0]!.address;
    assert.notEqual(ip(a), ip(b));
  });
});
