/**
 * The agent's local CNI endpoint: HTTP/1.1 on a unix socket (default /var/run/margay/cni.sock).
 *
 * Wire format (what native/cni-client.c sends): `POST /v1/cni` (the `margay` plugin) or
 * `POST /v1/ipam` (`margay-ipam`), one `X-CNI_<NAME>` header per CNI_* variable that is set, and
 * the configuration as the body. The answer is 200 with the result (or an empty body) when the
 * plugin must exit 0, and another status with a CNI error object otherwise. Also
 * `POST /v1/endpoints` (JSON) for interfaces someone else created, such as VM taps (existing.ts),
 * and `GET /v1/version` for a quick "is it there" (`curl --unix-socket … http://margay/v1/version`).
 * The thin client's own requests are read the short way (fast-request.ts); every other request
 * goes through node's HTTP server.
 */
import { mkdirSync, unlinkSync, chmodSync, existsSync } from 'node:fs';
import { createServer, STATUS_CODES, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { connect, createServer as createNetServer, type Socket } from 'node:net';
import { dirname } from 'node:path';
import { MargayError } from '../errors/mod.ts';
import type { CniServiceOptions } from './context.ts';
import { ENV_NAMES, type CniEnv } from './request.ts';
import { FAST_HEAD_LIMIT, fastResponse, parseFastHead, type FastRequest } from './fast-request.ts';
import { ReadBuffer } from './read-buffer.ts';
import { CniService, versionInfo, type CniReply, type PluginKind } from './service.ts';
import { CniCode } from './spec.ts';

/** The socket the plugin binaries use unless told otherwise. */
export const DEFAULT_CNI_SOCKET = '/var/run/margay/cni.sock';

/** Options of {@link startCniService}: the service's dependencies and where to listen. */
export interface CniServerOptions extends CniServiceOptions {
  /** Unix socket path (default {@link DEFAULT_CNI_SOCKET}). */
  socketPath?: string;
  /** Largest configuration accepted, in bytes (default 1 MiB). */
  maxBodyBytes?: number;
}

/** How long a client may take to send its request. */
const HEAD_TIMEOUT_MS = 60_000;

/** A running CNI endpoint. */
export interface CniServer {
  readonly service: CniService;
  readonly socketPath: string;
  /** Stops accepting requests, waits for those in flight, removes the socket. */
  close(): Promise<void>;
}

function send(res: ServerResponse, status: number, body: Record<string, unknown> | undefined): void {
  const text = bodyText(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), connection: 'close' });
  res.end(text);
}

function bodyText(body: Record<string, unknown> | undefined): string {
  return body === undefined ? '' : `${JSON.stringify(body)}\n`;
}

/** A plugin invocation's answer: its HTTP status and body. Never rejects. */
function invoke(service: CniService, env: CniEnv, text: string, plugin: PluginKind): Promise<{ status: number; body: Record<string, unknown> | undefined }> {
  return service.handle(env, text, plugin).then(
    (reply: CniReply) => ({ status: reply.ok ? 200 : 500, body: reply.body }),
    (err: unknown) => ({ status: 500, body: { cniVersion: '1.1.0', code: CniCode.INTERNAL, msg: String((err as Error)?.message ?? err) } }),
  );
}

/**
 * Serves one connection: the thin client's request the short way (fast-request.ts), anything
 * else through node's HTTP server `http`, to which the bytes read so far are given back.
 */
function serveConnection(socket: Socket, http: Server, service: CniService, maxBody: number): void {
  const read = new ReadBuffer();
  let scanned = 0; // bytes already searched for the head's end
  let request: FastRequest | undefined;
  let bodyStart = 0;
  // As node's server's timeouts: the request must have arrived within a minute from the connection
  // (a deadline, not an idle time: a client trickling bytes cannot hold it longer); its answer may take longer.
  const deadline = setTimeout(() => socket.destroy(), HEAD_TIMEOUT_MS);
  deadline.unref();
  const headRead = (): void => {
    socket.removeListener('data', onData);
    clearTimeout(deadline);
  };
  const handOver = (): void => {
    headRead();
    socket.removeListener('error', onError);
    socket.unshift(read.bytes());
    http.emit('connection', socket);
  };
  const onData = (chunk: Buffer): void => {
    read.append(chunk);
    const size = read.length;
    if (request === undefined) {
      const end = read.indexOf('\r\n\r\n', scanned - 3);
      if (end < 0) {
        // A head ended by bare line feeds is not the client's shape: node's server answers it.
        if (size > FAST_HEAD_LIMIT || read.indexOf('\n\n', scanned - 1) >= 0) handOver();
        scanned = size;
        return;
      }
      request = parseFastHead(read.bytes().toString('latin1', 0, end), maxBody);
      if (request === undefined) {
        handOver();
        return;
      }
      bodyStart = end + 4;
    }
    if (size - bodyStart < request.contentLength) return;
    headRead();
    const { env, plugin, contentLength } = request;
    void invoke(service, env, read.bytes().toString('utf8', bodyStart, bodyStart + contentLength), plugin).then(({ status, body }) => {
      if (!socket.destroyed) socket.end(fastResponse(status, STATUS_CODES[status] ?? '', bodyText(body)));
    });
  };
  // A client that went away: nothing to answer (node's server does the same).
  const onError = (): void => void socket.destroy();
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', () => clearTimeout(deadline));
}

function envFromHeaders(req: IncomingMessage): CniEnv {
  const env: CniEnv = {};
  for (const name of ENV_NAMES) {
    const v = req.headers[`x-${name.toLowerCase()}`];
    if (typeof v === 'string') env[name] = v;
  }
  return env;
}

/** Refuses to take over a socket another process still serves; removes a stale one. */
async function clearStaleSocket(path: string): Promise<void> {
  if (!existsSync(path)) return;
  const alive = await new Promise<boolean>((resolve) => {
    const s = connect(path);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (alive) throw new MargayError('MARGAY_ERR_CONFIG', `CNI socket ${path} is served by another process (is another margay agent running?)`);
  unlinkSync(path);
}

/**
 * Starts the CNI endpoint on a unix socket and returns once it listens. The agent calls this
 * with its datastore, IPAM, node name, host namespace and the `waitForEndpointProgrammed` hook.
 */
export async function startCniService(options: CniServerOptions): Promise<CniServer> {
  const socketPath = options.socketPath ?? DEFAULT_CNI_SOCKET;
  const maxBody = options.maxBodyBytes ?? 1024 * 1024;
  const service = new CniService(options);
  mkdirSync(dirname(socketPath), { recursive: true, mode: 0o755 });
  await clearStaleSocket(socketPath);

  // Headers carry the CNI_* variables (the thin client sends at most 8 KiB each).
  const server: Server = createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
    const route = req.url?.split('?')[0];
    if (req.method === 'GET' && route === '/v1/version') {
      send(res, 200, versionInfo());
      return;
    }
    const plugin: PluginKind | 'endpoints' | undefined =
      route === '/v1/cni' ? 'cni' : route === '/v1/ipam' ? 'ipam' : route === '/v1/endpoints' ? 'endpoints' : undefined;
    if (req.method !== 'POST' || !plugin) {
      send(res, 404, { cniVersion: '1.1.0', code: CniCode.INTERNAL, msg: `no such CNI endpoint: ${req.method} ${req.url}` });
      return;
    }
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size <= maxBody) chunks.push(c);
    });
    req.on('end', () => {
      if (size > maxBody) {
        send(res, 413, { cniVersion: '1.1.0', code: CniCode.INVALID_NETWORK_CONFIG, msg: `the network configuration is larger than ${maxBody} bytes` });
        return;
      }
      const text = Buffer.concat(chunks).toString('utf8');
      if (plugin === 'endpoints') {
        let body: unknown;
        try {
          body = JSON.parse(text);
        } catch {
          send(res, 400, { cniVersion: '1.1.0', code: CniCode.DECODE_FAILURE, msg: 'the endpoint request is not valid JSON' });
          return;
        }
        const work = service.handleExisting(body);
        void work.then(
          (reply) => send(res, reply.ok ? 200 : 500, reply.body),
          (err: unknown) => send(res, 500, { cniVersion: '1.1.0', code: CniCode.INTERNAL, msg: String((err as Error)?.message ?? err) }),
        );
      } else {
        void invoke(service, envFromHeaders(req), text, plugin).then(({ status, body }) => send(res, status, body));
      }
    });
  });
  // ADD waits for the dataplane; never cut a request short on our side.
  server.requestTimeout = 0;
  server.headersTimeout = HEAD_TIMEOUT_MS;
  server.keepAliveTimeout = 1000;
  // The socket itself: the thin client's requests the short way, the rest through `server`.
  const listener = createNetServer((socket) => serveConnection(socket, server, service, maxBody));

  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(socketPath, () => {
      listener.off('error', reject);
      resolve();
    });
  });
  chmodSync(socketPath, 0o600);
  let closed: Promise<void> | undefined;
  return {
    service,
    socketPath,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        listener.close(() => resolve());
        server.closeIdleConnections();
      }).then(() => {
        service.close();
        try {
          unlinkSync(socketPath);
        } catch {
          // already gone
        }
      })),
  };
}
