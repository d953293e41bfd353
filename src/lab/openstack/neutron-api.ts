/**
 * A small client of Neutron's REST API (v2.0) as the lab, the tests and the bench use it: no
 * keystone (the server runs with `auth_strategy = noauth`), so the project travels in
 * `X-Project-Id` and in every POST body as `tenant_id` (noauth requires it).
 */
import { MargayError } from '../../errors/mod.ts';

/** Options of {@link NeutronApi}. */
export interface NeutronApiOptions {
  /** `http://HOST:PORT`. */
  url: string;
  /** The project every request acts for (default `admin`, with the admin role). */
  project?: string;
  /** Per-request timeout in ms. */
  timeoutMs?: number;
}

/** An error answer of the API (status and Neutron's message). */
export class NeutronApiError extends MargayError {
  constructor(readonly status: number, readonly neutronType: string, readonly neutronMessage: string, what: string) {
    super('MARGAY_ERR_COMMAND_FAILED', `Neutron refused ${what}: ${status} ${neutronType}: ${neutronMessage}`);
  }
}

type Json = Record<string, unknown>;

/** Neutron's API for one project. */
export class NeutronApi {
  readonly url: string;
  readonly project: string;
  readonly #timeoutMs: number;

  constructor(options: NeutronApiOptions) {
    this.url = options.url.replace(/\/$/, '');
    this.project = options.project ?? 'admin';
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  /** One request; the parsed JSON answer (undefined for 204), or a {@link NeutronApiError}. */
  async request<T = Json>(method: string, path: string, body?: Json): Promise<T> {
    const res = await fetch(`${this.url}/v2.0/${path}`, {
      method,
      headers: { 'content-type': 'application/json', 'x-project-id': this.project, 'x-roles': 'admin,member' },
      ...(body ? { body: JSON.stringify(body) } : {}),
      signal: AbortSignal.timeout(this.#timeoutMs),
    });
    const text = await res.text();
    if (!res.ok) {
      let type = '';
      let message = text;
      try {
        const err = (JSON.parse(text) as { NeutronError?: { type?: string; message?: string } }).NeutronError;
        type = err?.type ?? '';
        message = err?.message ?? text;
      } catch {
        // not JSON: keep the text
      }
      throw new NeutronApiError(res.status, type, message, `${method} ${path}`);
    }
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** True when the API answers. */
  async ping(): Promise<boolean> {
    try {
      await this.request('GET', 'networks?limit=1');
      return true;
    } catch {
      return false;
    }
  }

  /** Creates one resource (`network`, `subnet`, `port`, `security_group`, `security_group_rule`). */
  async create<T = Json>(kind: string, fields: Json): Promise<T> {
    const answer = await this.request<Json>('POST', `${kind}s`, { [kind]: { tenant_id: this.project, ...fields } });
    return answer[kind] as T;
  }

  /** Updates one resource. */
  async update<T = Json>(kind: string, id: string, fields: Json): Promise<T> {
    const answer = await this.request<Json>('PUT', `${kind}s/${id}`, { [kind]: fields });
    return answer[kind] as T;
  }

  /** Reads one resource. */
  async get<T = Json>(kind: string, id: string): Promise<T> {
    const answer = await this.request<Json>('GET', `${kind}s/${id}`);
    return answer[kind] as T;
  }

  /** Lists resources (`query`: Neutron's filters, e.g. `name=x`). */
  async list<T = Json>(kind: string, query = ''): Promise<T[]> {
    const answer = await this.request<Json>('GET', `${kind}s${query ? `?${query}` : ''}`);
    return answer[`${kind}s`] as T[];
  }

  /** Calls a resource's action (`PUT routers/<id>/add_router_interface` with `{ subnet_id }`). */
  async action<T = Json>(kind: string, id: string, action: string, body: Json): Promise<T> {
    return this.request<T>('PUT', `${kind}s/${id}/${action}`, body);
  }

  /** Deletes one resource. */
  async remove(kind: string, id: string): Promise<void> {
    await this.request('DELETE', `${kind}s/${id}`);
  }
}
