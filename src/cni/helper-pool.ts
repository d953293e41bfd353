/**
 * A few resident helper processes of one kind (`ip -batch`, `margay-netlink`) used together: each
 * runs its requests one after another, so a burst of ADDs through one helper queues behind it.
 * A request goes to the helper with the fewest requests in flight, the first on a tie: one after
 * another, requests all go to the first helper (the others never start, as a resident helper
 * starts with its first request), and only concurrent ones spread.
 */

/** Helpers of one kind, each made on first use. */
export class HelperPool<T> {
  readonly #make: () => T;
  readonly #members: { helper: T | undefined; inFlight: number }[];

  constructor(size: number, make: () => T) {
    this.#make = make;
    this.#members = Array.from({ length: Math.max(1, size) }, () => ({ helper: undefined, inFlight: 0 }));
  }

  /** Runs `fn` on the least busy helper. */
  async use<R>(fn: (helper: T) => Promise<R>): Promise<R> {
    const member = this.#members.reduce((best, m) => (m.inFlight < best.inFlight ? m : best));
    member.helper ??= this.#make();
    member.inFlight++;
    try {
      return await fn(member.helper);
    } finally {
      member.inFlight--;
    }
  }

  /** Every helper made so far (to close them). */
  made(): T[] {
    return this.#members.flatMap((m) => (m.helper === undefined ? [] : [m.helper]));
  }
}
