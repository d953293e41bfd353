/**
 * Local workload endpoints programmed ahead of the datastore. The CNI service hands the agent the
 * WorkloadEndpoint it is about to write; the agent feeds it to its calculation graph at once, so
 * that the kernel work (the endpoint's chains, its policy) overlaps the datastore write instead of
 * waiting for the write's watch event. When that event (the echo) comes, the flush it causes
 * finds the endpoint already programmed and is empty, so the waiting ADD gets its answer about a
 * millisecond after its write returns. The echo is still awaited: only it proves that everything
 * written before the endpoint (a policy applied just before the pod) is in the kernel too.
 *
 * This is the bookkeeping of withdrawals (pure, no clock): which endpoint was fed ahead (the
 * newest feed of each), and the datastore's last value of each local endpoint, which a withdrawn
 * feed (the write failed) gives back to the graph. Endpoints are named `<namespace>/<name>`;
 * their names include the node's, so a local endpoint never shares a name with a remote one.
 */

/** What a withdrawal must feed back to the graph: the datastore's last value (undefined: none). */
export interface Restore {
  value: unknown;
}

/** The endpoints fed ahead and what the datastore last said about each local endpoint. */
export class EndpointsAhead {
  #seq = 0;
  /** Endpoint → sequence number of its feed, until the datastore speaks about it. */
  readonly #ahead = new Map<string, number>();
  /** Endpoint → the datastore's last value, for this host's endpoints. */
  readonly #datastore = new Map<string, unknown>();

  /** The datastore said `value` about `endpoint` (undefined: deleted); it takes over from any feed. */
  onDatastore(endpoint: string, value: unknown, local: boolean): void {
    this.#ahead.delete(endpoint);
    if (local && value !== undefined) this.#datastore.set(endpoint, value);
    else this.#datastore.delete(endpoint);
  }

  /** Records a value fed ahead for `endpoint`; returns the feed's sequence number. */
  feed(endpoint: string): number {
    const seq = ++this.#seq;
    this.#ahead.set(endpoint, seq);
    return seq;
  }

  /**
   * Withdraws feed `seq` of `endpoint`. Returns what to feed back to the graph, or undefined when
   * there is nothing to undo (the datastore has spoken since, or a newer feed replaced it).
   */
  withdraw(endpoint: string, seq: number): Restore | undefined {
    if (this.#ahead.get(endpoint) !== seq) return undefined;
    this.#ahead.delete(endpoint);
    return { value: this.#datastore.get(endpoint) };
  }
}
