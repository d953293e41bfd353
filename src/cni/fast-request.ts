/**
 * The thin client's request, read without node's HTTP server. Every ADD and DEL is one
 * `POST /v1/cni` (or `/v1/ipam`) from native/cni-client.c with a fixed shape (request line,
 * `Content-Length`, one `X-CNI_<NAME>` header per variable, the configuration as the body, the
 * connection closed after the answer); node's server spent ~0.3–0.5 ms of the agent's event loop
 * on each (parser, IncomingMessage, ServerResponse, header checks: docs/cni.md, session 11).
 *
 * Only a head this parser fully understands takes the short way; anything else (another route, a
 * header it does not expect such as `Expect` or `Transfer-Encoding`, a repeated variable, a body
 * over the limit, anything malformed) is handed to node's server unchanged, which answers it as
 * before. Pure: no I/O.
 */
import { ENV_NAMES, type CniEnv } from './request.ts';
import type { PluginKind } from './service.ts';

/** A request the short way serves. */
export interface FastRequest {
  plugin: PluginKind;
  env: CniEnv;
  /** The body's length in bytes (`Content-Length`). */
  contentLength: number;
}

/** Longest head the short way reads before handing the connection over (node's limit is set to 64 KiB too). */
export const FAST_HEAD_LIMIT = 64 * 1024;

/** A Map, not an object: a request line such as `constructor` must not find an inherited member. */
const ROUTES: ReadonlyMap<string, PluginKind> = new Map([
  ['POST /v1/cni HTTP/1.1', 'cni'],
  ['POST /v1/ipam HTTP/1.1', 'ipam'],
]);
/** `x-cni_command` → `CNI_COMMAND`. */
const VARIABLES = new Map<string, (typeof ENV_NAMES)[number]>(ENV_NAMES.map((n) => [`x-${n.toLowerCase()}`, n]));
/** A header name (RFC 9110 token). */
const TOKEN = /^[!#$%&'*+.^_`|~0-9a-z-]+$/;
/** A value with a control character other than a tab: node's server refuses it; let it. */
const CONTROL = /[\x00-\x08\x0a-\x1f\x7f]/;
/** Headers whose meaning the short way does not implement. */
const UNSUPPORTED = new Set(['transfer-encoding', 'expect', 'upgrade']);

/**
 * Parses a request head (the bytes before the blank line, as latin1 text, which is how node's
 * server reads header values). Undefined: hand the connection to node's server.
 */
export function parseFastHead(head: string, maxBodyBytes: number): FastRequest | undefined {
  const lines = head.split('\r\n');
  const plugin = ROUTES.get(lines[0]!);
  if (plugin === undefined) return undefined;
  const env: CniEnv = {};
  let contentLength: number | undefined;
  let host = false;
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i]!;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined; // also a folded line (starts with whitespace: no valid name)
    const name = line.slice(0, colon).toLowerCase();
    if (!TOKEN.test(name) || UNSUPPORTED.has(name)) return undefined;
    const value = line.slice(colon + 1).replace(/^[ \t]+|[ \t]+$/g, '');
    if (CONTROL.test(value)) return undefined;
    if (name === 'host') host = true;
    if (name === 'content-length') {
      if (contentLength !== undefined || !/^\d{1,9}$/.test(value)) return undefined;
      contentLength = Number(value);
      continue;
    }
    const variable = VARIABLES.get(name);
    if (variable === undefined) continue;
    if (env[variable] !== undefined) return undefined; // node joins repeats; not the client's shape
    env[variable] = value;
  }
  // Without Host node answers 400 (HTTP/1.1 requires it); the client always sends it.
  if (!host || contentLength === undefined || contentLength > maxBodyBytes) return undefined;
  return { plugin, env, contentLength };
}

/** The whole answer, head and body, for one write: what node's server sent for it, minus `Date`. */
export function fastResponse(status: number, reason: string, text: string): string {
  return `HTTP/1.1 ${status} ${reason}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(text)}\r\nConnection: close\r\n\r\n${text}`;
}
