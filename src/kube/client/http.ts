/**
 * A small HTTPS client of the Kubernetes API: JSON requests and watch streams over one keep-alive
 * agent per API server. Plain `node:https`, no generated models: objects stay the JSON the server
 * sent (docs/kubernetes.md compares it with @kubernetes/client-node).
 *
 * Errors are MargayErrors: MARGAY_ERR_KUBE_UNAVAILABLE when the server cannot be reached (or does
 * not answer in time), else the server's Status mapped to a code (404 → MARGAY_ERR_NOT_FOUND,
 * 409 → MARGAY_ERR_CONFLICT, 410 → MARGAY_ERR_COMPACTED, anything else MARGAY_ERR_KUBE_API), with
 * the HTTP status and the Status `reason` kept on {@link KubeApiError}.
 */
import http from 'node:http';
import https from 'node:https';
import { MargayError, type ErrorCode } from '../../errors/mod.ts';
import type { KubeAccess } from './access.ts';

/** An error answer of the API server (or no answer). */
export class KubeApiError extends MargayError {
  /** HTTP status; 0 when the server could not be reached. */
  readonly status: number;
  /** The Status object's `reason` (`NotFound`, `Expired`, `Gone`, …), when there was one. */
  readonly reason: string | undefined;

  constructor(code: ErrorCode, status: number, reason: string | undefined, message: string, options?: ErrorOptions) {
    super(code, message, options);
    this.name = 'KubeApiError';
    this.status = status;
    this.reason = reason;
  }
}

function codeForStatus(status: number): ErrorCode {
  if (status === 404) return 'MARGAY_ERR_NOT_FOUND';
  if (status === 409) return 'MARGAY_ERR_CONFLICT';
  if (status === 410) return 'MARGAY_ERR_COMPACTED';
  return 'MARGAY_ERR_KUBE_API';
}

/** The error for a Status object (from a reply body or a watch ERROR event). */
export function statusError(status: number, body: unknown, what: string): KubeApiError {
  const s = (typeof body === 'object' && body !== null ? body : {}) as { message?: unknown; reason?: unknown; code?: unknown };
  const code = typeof s.code === 'number' && s.code > 0 ? s.code : status;
  const message = typeof s.message === 'string' && s.message !== '' ? s.message : `HTTP ${code}`;
  return new KubeApiError(codeForStatus(code), code, typeof s.reason === 'string' ? s.reason : undefined, `Kubernetes API ${what}: ${message}`);
}

/** Options of one request. */
export interface RequestOptions {
  /** JSON body (serialised) for POST/PUT/PATCH. */
  body?: unknown;
  /** Content type of the body (default application/json; PATCH: application/merge-patch+json). */
  contentType?: string;
  /** Give up after this long (default: the client's). */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** Options of {@link KubeClient}. */
export interface KubeClientOptions {
  /** Default request timeout, ms (default 10000). */
  timeoutMs?: number;
  /** User-Agent (default `margay`). */
  userAgent?: string;
}

/** A watch stream: lines of JSON, one event each. `close()` ends it early. */
export interface WatchStream extends AsyncIterable<unknown> {
  close(): void;
}

/** JSON over HTTPS to one API server. */
export class KubeClient {
  readonly access: KubeAccess;
  readonly #agent: http.Agent;
  readonly #timeoutMs: number;
  readonly #headers: Record<string, string>;
  readonly #module: typeof http | typeof https;

  constructor(access: KubeAccess, options: KubeClientOptions = {}) {
    this.access = access;
    this.#timeoutMs = options.timeoutMs ?? 10_000;
    const secure = access.server.startsWith('https:');
    this.#module = secure ? https : http;
    this.#agent = secure
      ? new https.Agent({
          keepAlive: true,
          maxSockets: 16,
          ...(access.ca ? { ca: access.ca } : {}),
          ...(access.cert ? { cert: access.cert } : {}),
          ...(access.key ? { key: access.key } : {}),
          rejectUnauthorized: access.insecureSkipTlsVerify !== true,
        })
      : new http.Agent({ keepAlive: true, maxSockets: 16 });
    this.#headers = { accept: 'application/json', 'user-agent': options.userAgent ?? 'margay' };
    if (access.token) this.#headers.authorization = `Bearer ${access.token}`;
  }

  /** Closes idle connections. In-flight requests finish. */
  close(): void {
    this.#agent.destroy();
  }

  #open(method: string, path: string, options: RequestOptions, timeoutMs: number): { req: http.ClientRequest; response: Promise<http.IncomingMessage> } {
    const url = new URL(this.access.server + path);
    const headers: Record<string, string> = { ...this.#headers };
    let payload: Buffer | undefined;
    if (options.body !== undefined) {
      payload = Buffer.from(JSON.stringify(options.body));
      headers['content-type'] = options.contentType ?? (method === 'PATCH' ? 'application/merge-patch+json' : 'application/json');
      headers['content-length'] = String(payload.length);
    }
    const req = this.#module.request(url, { method, headers, agent: this.#agent, timeout: timeoutMs });
    const response = new Promise<http.IncomingMessage>((resolve, reject) => {
      const fail = (err: Error): void => reject(this.#unreachable(method, path, err));
      req.once('response', resolve);
      req.once('error', fail);
      req.once('timeout', () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      const signal = options.signal;
      if (signal) {
        const onAbort = (): void => {
          req.destroy(new Error('aborted'));
        };
        if (signal.aborted) onAbort();
        else {
          signal.addEventListener('abort', onAbort, { once: true });
          req.once('close', () => signal.removeEventListener('abort', onAbort));
        }
      }
    });
    req.end(payload);
    return { req, response };
  }

  #unreachable(method: string, path: string, err: Error): KubeApiError {
    return new KubeApiError(
      'MARGAY_ERR_KUBE_UNAVAILABLE',
      0,
      undefined,
      `the Kubernetes API server at ${this.access.server} cannot be reached (${method} ${path.split('?')[0]}): ${(err as NodeJS.ErrnoException).code ?? err.message}`,
      { cause: err },
    );
  }

  /**
   * One request; resolves with the parsed JSON body of a 2xx answer.
   * @throws {KubeApiError}
   */
  async request<T = unknown>(method: string, path: string, options: RequestOptions = {}): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const { req, response } = this.#open(method, path, options, timeoutMs);
    const res = await response;
    const chunks: Buffer[] = [];
    try {
      for await (const chunk of res) chunks.push(chunk as Buffer);
    } catch (err) {
      throw this.#unreachable(method, path, err as Error);
    } finally {
      req.setTimeout(0);
    }
    const text = Buffer.concat(chunks).toString('utf8');
    let body: unknown;
    try {
      body = text === '' ? undefined : JSON.parse(text);
    } catch {
      body = { message: text.slice(0, 200) };
    }
    const status = res.statusCode ?? 0;
    if (status < 200 || status >= 300) throw statusError(status, body, `${method} ${path.split('?')[0]}`);
    return body as T;
  }

  /** GET a path. */
  get<T = unknown>(path: string, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('GET', path, options);
  }

  /** JSON merge patch (RFC 7386) of a path. */
  patch<T = unknown>(path: string, body: unknown, options: RequestOptions = {}): Promise<T> {
    return this.request<T>('PATCH', path, { ...options, body });
  }

  /**
   * Opens a watch (`path` has `watch=1`): resolves once the server answered 200, then yields one
   * parsed event per line until the server ends the stream or `close()` is called.
   * @throws {KubeApiError} when the server answers with an error status or cannot be reached.
   */
  async watch(path: string, options: { timeoutMs: number; signal?: AbortSignal }): Promise<WatchStream> {
    const { req, response } = this.#open('GET', path, options.signal ? { signal: options.signal } : {}, options.timeoutMs);
    const res = await response;
    const status = res.statusCode ?? 0;
    if (status !== 200) {
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      let body: unknown;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
      } catch {
        body = undefined;
      }
      throw statusError(status, body, `watch ${path.split('?')[0]}`);
    }
    res.setEncoding('utf8');
    let closed = false;
    const close = (): void => {
      closed = true;
      req.destroy();
    };
    const unreachable = (err: Error): KubeApiError => this.#unreachable('GET', path, err);
    return {
      close,
      async *[Symbol.asyncIterator]() {
        let buffered = '';
        try {
          for await (const chunk of res) {
            buffered += chunk as string;
            let nl = buffered.indexOf('\n');
            while (nl >= 0) {
              const line = buffered.slice(0, nl);
              buffered = buffered.slice(nl + 1);
              if (line.trim() !== '') yield JSON.parse(line) as unknown;
              nl = buffered.indexOf('\n');
            }
          }
        } catch (err) {
          if (closed) return;
          throw unreachable(err as Error);
        } finally {
          req.destroy();
        }
        if (buffered.trim() !== '') yield JSON.parse(buffered) as unknown;
      },
    };
  }
}
