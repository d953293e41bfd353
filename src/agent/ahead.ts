/**
 * Local workload endpoints programmed ahead of the datastore. The CNI service hands the agent the
 * WorkloadEndpoint it is about to write; the agent feeds it to its calculation graph at once, so
 * that the kernel work overlaps the datastore write instead of waiting for the write's watch
 * event. The datastore's own event for the endpoint then takes over as usual, and a withdrawn
 * endpoint (the write failed) gets back the datastore's last value.
 *
 * The first datastore event after a feed is normally the write's own echo. It is remembered by
 * revision: a caller waiting for the endpoint at exactly that revision (the write's) is then
 * satisfied by the feed already in the kernel, without one more flush. Any further event makes
 * the caller wait for the datastore path as before.
 *
 * This is the bookkeeping only (pure, no clock): which endpoint was fed ahead in which order,
 * which feeds a successful flush has applied, and the datastore's last value of each local
 * endpoint (what a withdrawal restores). Endpoints are named `<namespace>/<name>`.
 */

/** What a withdrawal must feed back to the graph: the datastore's last value (undefined: none). */
export interface Restore {
  value: unknown;
}

/** The endpoints fed ahead and what the datastore last said about each local endpoint. */
export class EndpointsAhead {
  #seq = 0;
  #applied = 0;
  /** Endpoint → its feed: sequence number, and the revision of the first datastore event since. */
  readonly #ahead = new Map<string, { seq: number; echo?: number }>();
  /** Endpoint → the datastore's last value, for this host's endpoints. */
  readonly #datastore = new Map<string, unknown>();

  /**
   * The datastore said `value` about `endpoint` at `revision` (undefined: deleted); it takes over
   * from any feed ahead. Returns true when this is the first event since a feed that a flush has
   * already applied (likely the write's echo: nothing new for the kernel).
   */
  onDatastore(endpoint: string, value: unknown, local: boolean, revision: number): boolean {
    if (local && value !== undefined) this.#datastore.set(endpoint, value);
    else this.#datastore.delete(endpoint);
    const feed = this.#ahead.get(endpoint);
    if (feed === undefined) return false;
    if (feed.echo !== undefined || value === undefined) {
      this.#ahead.delete(endpoint);
      return false;
    }
    feed.echo = revision;
    return feed.seq <= this.#applied;
  }

  /** Records a value fed ahead for `endpoint`; returns the feed's sequence number. */
  feed(endpoint: string): number {
    const seq = ++this.#seq;
    this.#ahead.set(endpoint, { seq });
    return seq;
  }

  /** The newest feed's sequence number: a flush of the graph now includes every feed up to it. */
  get latest(): number {
    return this.#seq;
  }

  /** A flush that included every feed up to `seq` has been applied to the kernel. */
  applied(seq: number): void {
    if (seq > this.#applied) this.#applied = seq;
  }

  /**
   * True when `endpoint`'s value fed ahead is in the kernel and is what the datastore holds at
   * `revision`: no datastore event since the feed, or only the one at `revision` (the echo).
   */
  isApplied(endpoint: string, revision: number): boolean {
    const feed = this.#ahead.get(endpoint);
    return feed !== undefined && feed.seq <= this.#applied && (feed.echo === undefined || feed.echo === revision);
  }

  /**
   * Withdraws feed `seq` of `endpoint`. Returns what to feed back to the graph, or undefined when
   * there is nothing to undo (the datastore has spoken since, or a newer feed replaced it).
   */
  withdraw(endpoint: string, seq: number): Restore | undefined {
    const feed = this.#ahead.get(endpoint);
    if (feed?.seq !== seq || feed.echo !== undefined) return undefined;
    this.#ahead.delete(endpoint);
    return { value: this.#datastore.get(endpoint) };
  }
}
