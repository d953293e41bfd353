/**
 * The dispatcher (Felix's `AllUpdDispatcher`): routes each datastore update to the handlers
 * registered for its kind. Keys are Calico's etcd layout:
 *
 * - `/calico/resources/v3/projectcalico.org/<plural>/[<namespace>/]<name>`: a v3 resource,
 *   dispatched by plural with its namespace and name taken from the key;
 * - `/calico/ipam/v2/assignment/ipv4|ipv6/block/<cidr>`: an IPAM block, dispatched to the block
 *   handlers.
 *
 * Other keys, and kinds nobody registered for (staged policies among them: they are never
 * enforced), are ignored.
 */
import type { Resource } from '../api/mod.ts';
import { IPAM_BLOCKS_PREFIX, parseResourceKey } from '../datastore/mod.ts';

/** The parts of a resource key. */
export interface ResourceRef {
  plural: string;
  namespace?: string;
  name: string;
}

/** Handles one kind's updates; `resource` is undefined for a delete; `key` is the datastore key. */
export type ResourceHandler = (ref: ResourceRef, resource: Resource | undefined, key: string) => void;

/** Handles IPAM block updates; `block` is the parsed JSON value, undefined for a delete. */
export type BlockHandler = (key: string, block: unknown) => void;

/** Routes updates by kind. */
export class Dispatcher {
  readonly #handlers = new Map<string, ResourceHandler[]>();
  readonly #blockHandlers: BlockHandler[] = [];

  /** Registers a handler for a kind, by its plural (`networkpolicies`). */
  register(plural: string, handler: ResourceHandler): void {
    let list = this.#handlers.get(plural);
    if (list === undefined) this.#handlers.set(plural, (list = []));
    list.push(handler);
  }

  /** Registers a handler for IPAM blocks. */
  registerBlocks(handler: BlockHandler): void {
    this.#blockHandlers.push(handler);
  }

  /** Dispatches one update. Returns false when nobody handles the key. */
  dispatch(key: string, value: unknown): boolean {
    const ref = parseResourceKey(key);
    if (ref !== undefined) {
      const handlers = this.#handlers.get(ref.plural);
      if (handlers === undefined) return false;
      const resource = value === undefined || value === null ? undefined : (value as Resource);
      for (const h of handlers) h(ref, resource, key);
      return true;
    }
    if (key.startsWith(IPAM_BLOCKS_PREFIX) && key.includes('/block/')) {
      if (this.#blockHandlers.length === 0) return false;
      for (const h of this.#blockHandlers) h(key, value ?? undefined);
      return true;
    }
    return false;
  }
}
