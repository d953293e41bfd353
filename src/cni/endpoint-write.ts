/**
 * Writing and deleting an attachment's WorkloadEndpoint.
 *
 * An ADD's endpoint goes, when it can, into the same etcd transaction as its address (IPAM's
 * `alongside` key): the block, the handle and the endpoint are then written together, one round
 * trip and one disk sync instead of two, and a crash can never leave one without the other. When
 * the address came otherwise (a repeated ADD, requested addresses, a delegated IPAM plugin) or
 * that transaction had to be redone after a conflicting write, the endpoint is written on its own.
 * Either way it is fed to the agent's dataplane just before it is sent ("programmed ahead"), and
 * its undo steps are registered before it can exist.
 */
import { workloadEndpointKind, type Resource } from '../api/mod.ts';
import type { TxnOp } from '../datastore/mod.ts';
import { hasCode } from '../errors/mod.ts';
import type { ServiceContext, Undo } from './context.ts';

/** Addresses of an attachment, without prefix. */
export interface EndpointAddresses {
  ipv4: string[];
  ipv6: string[];
}

/** Options of an {@link EndpointWrite}. */
export interface EndpointWriteOptions {
  namespace: string;
  name: string;
  /** The container the endpoint belongs to (an undo deletes only an endpoint that still does). */
  containerId: string;
  /** Builds the endpoint once the addresses are known. */
  build(addrs: EndpointAddresses): Resource;
  /**
   * Whether to program it ahead: not when the network's profile was written just now (the agent
   * has not seen it yet; the endpoint's own event, which follows the profile's, programs it).
   */
  ahead: boolean;
}

/** The write of one ADD's WorkloadEndpoint; see the module comment. */
export class EndpointWrite {
  readonly #ctx: ServiceContext;
  readonly #undo: Undo;
  readonly #options: EndpointWriteOptions;
  #withdraw: (() => void) | undefined;
  /** The feed of the endpoint last put in a transaction, until it is made. */
  #pending: (() => void) | undefined;
  #undoRegistered = false;

  constructor(ctx: ServiceContext, undo: Undo, options: EndpointWriteOptions) {
    this.#ctx = ctx;
    this.#undo = undo;
    this.#options = options;
  }

  /**
   * The endpoint's write as a transaction op, for the IPAM transaction of `addrs`. It is
   * programmed ahead once that transaction is on its way (the agent's calculation and flush, on
   * the same event loop, would otherwise delay sending it), at the latest at {@link carried}.
   */
  op(addrs: EndpointAddresses): TxnOp {
    const wep = this.#prepare(addrs);
    const feed = (): void => {
      if (this.#pending !== feed) return;
      this.#pending = undefined;
      this.#feed(wep);
    };
    this.#pending = feed;
    setImmediate(feed);
    return this.#ctx.options.store.putOp(wep).op;
  }

  /** The IPAM transaction carried the endpoint: its feed ahead is made now if it has not been yet. */
  carried(): void {
    this.#pending?.();
  }

  /** Writes the endpoint on its own; returns the write's revision. */
  async write(addrs: EndpointAddresses): Promise<number> {
    const wep = this.#prepare(addrs);
    this.#feed(wep);
    const { resource } = await this.#ctx.options.store.apply(wep, { likelyNew: true });
    return Number(resource.metadata.resourceVersion);
  }

  /** Builds the endpoint and registers the undo steps (once); withdraws an earlier feed. */
  #prepare(addrs: EndpointAddresses): Resource {
    const { namespace, name, containerId } = this.#options;
    if (!this.#undoRegistered) {
      this.#undoRegistered = true;
      this.#undo.push('delete WorkloadEndpoint', () => deleteEndpointIfOwned(this.#ctx, { namespace, name, containerId }));
      this.#undo.push('withdraw the endpoint programmed ahead', async () => this.#unfeed());
    }
    // A transaction recomputed after a conflict builds the endpoint again, perhaps with other addresses.
    this.#unfeed();
    return this.#options.build(addrs);
  }

  #feed(wep: Resource): void {
    this.#withdraw = this.#options.ahead ? this.#ctx.options.programAhead?.(wep) : undefined;
  }

  /** Withdraws the feed ahead, also one not made yet. */
  #unfeed(): void {
    this.#pending = undefined;
    this.#withdraw?.();
    this.#withdraw = undefined;
  }
}

/**
 * Deletes a WorkloadEndpoint when it still belongs to `containerId` (`current`: its copy just
 * read, which saves reading it again); false when absent or someone else's.
 */
export async function deleteEndpointIfOwned(
  ctx: ServiceContext,
  ep: { namespace: string; name: string; containerId: string },
  current?: Resource,
): Promise<boolean> {
  const store = ctx.options.store;
  const wep = current ?? (await store.get(workloadEndpointKind, ep.name, ep.namespace));
  if (!wep) return false;
  if ((wep.spec as { containerID?: string } | undefined)?.containerID !== ep.containerId) return false;
  try {
    // Only as read: a newer container's endpoint of the same name is not this one's to delete.
    await store.deleteAsRead(wep);
    return true;
  } catch (err) {
    if (hasCode(err, 'MARGAY_ERR_NOT_FOUND') || hasCode(err, 'MARGAY_ERR_CONFLICT')) return false;
    throw err;
  }
}
