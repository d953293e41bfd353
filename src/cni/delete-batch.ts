/**
 * Deletions of containers' veths that arrive together, deleted together. Deleting an interface
 * waits in the kernel for its unregistration (RCU grace periods, references dropped), about
 * 15–20 ms here, and one deletion after another waits each time: a burst of 20 DELs through four
 * helpers took ~225 ms for the deletions alone. Deleted as one interface group, the kernel waits
 * once for all of them (`ip link del group`).
 *
 * No deletion waits for company: the first goes at once, alone; those that arrive while a batch
 * is in the kernel go together as the next batch. An item the batch cannot take (its veth's host
 * end is not the expected interface, or anything else failed for it) is deleted on its own.
 */
import type { NetlinkHelper } from '../os/mod.ts';

/** One container interface to delete, with the name its host end must have. */
export interface VethDeletion {
  netns: string;
  ifname: string;
  hostIfname: string;
}

interface Pending extends VethDeletion {
  resolve(deleted: boolean): void;
  reject(err: unknown): void;
}

/** Interface groups used for batches: a range of its own, far from the small numbers people use. */
const FIRST_GROUP = 0x4d470000;
const GROUPS = 0x10000;

/** Gathers deletions; see the module comment. */
export class DeleteBatcher {
  readonly #helper: () => NetlinkHelper;
  readonly #alone: (d: VethDeletion) => Promise<boolean>;
  #queue: Pending[] = [];
  #running = false;
  #next = 0;

  /**
   * @param helper the helper that runs batches (one at a time)
   * @param alone deletes one item on its own (true when deleted, false when gone)
   */
  constructor(helper: () => NetlinkHelper, alone: (d: VethDeletion) => Promise<boolean>) {
    this.#helper = helper;
    this.#alone = alone;
  }

  /** Deletes the container's interface (and so its host end); false when it or its namespace is gone. */
  delete(d: VethDeletion): Promise<boolean> {
    return new Promise<boolean>((resolve, reject) => {
      this.#queue.push({ ...d, resolve, reject });
      void this.#pump();
    });
  }

  async #pump(): Promise<void> {
    if (this.#running) return;
    this.#running = true;
    try {
      while (this.#queue.length > 0) await this.#run(this.#queue.splice(0));
    } finally {
      this.#running = false;
    }
  }

  async #run(batch: Pending[]): Promise<void> {
    const group = FIRST_GROUP + (this.#next++ % GROUPS);
    let outcomes: Awaited<ReturnType<NetlinkHelper['deleteTogether']>>;
    try {
      outcomes = await this.#helper().deleteTogether(group, batch);
    } catch {
      outcomes = batch.map(() => ({ error: 'batch failed' }));
    }
    batch.forEach((p, k) => {
      const o = outcomes[k]!;
      if (o === 'deleted' || o === 'gone') p.resolve(o === 'deleted');
      else this.#alone(p).then(p.resolve, p.reject);
    });
  }
}
