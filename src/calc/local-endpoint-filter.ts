/**
 * The local-endpoint filter (Felix's `localEndpointDispatcher`): every endpoint goes to the
 * consumers that need the whole cluster (the IP-set member index), and the endpoints on this
 * host (`spec.node == hostname`) also go to the local consumers (active rules, policy resolver,
 * routes). An endpoint that moves off this host is deleted for the local consumers.
 *
 * In mode `all` every endpoint counts as local: the CLI's policy trace and matrix run the same
 * graph for every endpoint of the cluster.
 */
import type { EndpointCallbacks } from './callbacks.ts';
import type { EndpointData } from './endpoint-data.ts';
import type { EndpointId } from './ids.ts';

/** Which endpoints count as local. */
export type LocalityMode = 'local' | 'all';

/** Splits endpoint updates into all-endpoint and local-endpoint streams. */
export class LocalEndpointFilter {
  readonly #hostname: string;
  readonly #mode: LocalityMode;
  readonly #all: readonly EndpointCallbacks[];
  readonly #local: readonly EndpointCallbacks[];
  readonly #localIds = new Set<EndpointId>();

  constructor(hostname: string, mode: LocalityMode, all: readonly EndpointCallbacks[], local: readonly EndpointCallbacks[]) {
    this.#hostname = hostname;
    this.#mode = mode;
    this.#all = all;
    this.#local = local;
  }

  /**
   * An endpoint anywhere in the cluster (undefined: deleted). The cluster-wide consumers get it
   * under `itemKey` (default `id`): the graph passes the datastore key, a string the syncer keeps
   * for every key anyway, so a remote endpoint costs no id string of its own (issue 14).
   */
  onEndpointUpdate(id: EndpointId, endpoint: EndpointData | undefined, itemKey: string = id): void {
    for (const c of this.#all) c.onEndpointUpdate(itemKey, endpoint);
    const local = endpoint !== undefined && (this.#mode === 'all' || endpoint.node === this.#hostname);
    if (local) {
      this.#localIds.add(id);
      for (const c of this.#local) c.onEndpointUpdate(id, endpoint);
    } else if (this.#localIds.delete(id)) {
      for (const c of this.#local) c.onEndpointUpdate(id, undefined);
    }
  }

  /** Number of local endpoints. */
  get localCount(): number {
    return this.#localIds.size;
  }
}
