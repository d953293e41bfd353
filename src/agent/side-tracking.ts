/**
 * What the agent itself follows of the datastore, beside the calculation graph: the status-key
 * identity of each local workload endpoint, the datastore's values of local endpoints (which a
 * withdrawn programming-ahead gives back, see ahead.ts), and how many hosts the cluster has.
 * Pure bookkeeping; the FelixConfigurations go to the settings resolver through the graph.
 */
import type { Resource } from '../api/mod.ts';
import { parseResourceKey } from '../datastore/mod.ts';
import { EndpointsAhead } from './ahead.ts';
import { type WorkloadStatusId, workloadStatusId } from './status.ts';

/** The agent's side view of the datastore. */
export class SideTracker {
  /** Local endpoints fed ahead of their datastore write, and the datastore's values of local endpoints. */
  readonly ahead = new EndpointsAhead();
  /** Local WorkloadEndpoint `<ns>/<name>` → its status key identity. */
  readonly workloadIds = new Map<string, WorkloadStatusId>();
  readonly #nodes = new Set<string>();
  readonly #hostname: string;
  readonly #onHostCount: (count: number) => void;

  constructor(hostname: string, onHostCount: (count: number) => void) {
    this.#hostname = hostname;
    this.#onHostCount = onHostCount;
  }

  /**
   * One change, from the datastore or fed ahead (`value` undefined: deleted). Returns true for a
   * workload endpoint of this host written (not deleted).
   */
  observe(key: string, value: unknown, source: 'datastore' | 'ahead'): boolean {
    const ref = parseResourceKey(key);
    if (ref === undefined) return false;
    const res = value as Resource | undefined;
    switch (ref.plural) {
      case 'workloadendpoints': {
        // Only this host's endpoints get a status key: keep nothing for the rest of the cluster.
        const id = `${ref.namespace ?? 'default'}/${ref.name}`;
        const local = res !== undefined && (res.spec as { node?: unknown } | undefined)?.node === this.#hostname;
        if (source === 'datastore') this.ahead.onDatastore(id, res, local);
        if (!local) {
          this.workloadIds.delete(id);
          return false;
        }
        this.workloadIds.set(id, workloadStatusId(ref.namespace ?? 'default', ref.name, res!.spec));
        return true;
      }
      case 'nodes':
        if (res === undefined) this.#nodes.delete(ref.name);
        else this.#nodes.add(ref.name);
        this.#onHostCount(this.#nodes.size);
        return false;
      default:
        return false;
    }
  }
}
