/**
 * The agent's port to the dataplane: what it asks of it (apply, resync, prepare, close) and how a
 * reported failure becomes an error that names the endpoints it could not program.
 */
import type { DataplaneUpdate } from '../calc/mod.ts';

/** What one dataplane call reports (the shape of src/dataplane's ApplyResult the agent reads). */
export interface DataplaneOutcome {
  /** False when something was not programmed (the desired state keeps it; a resync retries). */
  ok: boolean;
  /** Workload endpoint keys whose programming failed. */
  failedEndpoints?: string[];
  /** `via`: how a kernel transaction was sent (netlink: elements only; absent when none ran). */
  nft?: { error?: Error; via?: 'netlink' | 'nft' };
  routes?: { errors: Array<{ dst: string; message: string }> };
  vxlan?: { errors: string[] };
}

/**
 * What the agent needs from the dataplane: apply a batch in order (one kernel transaction), and
 * resync (re-read the kernel and repair it to the desired state). A failure is reported by
 * throwing or by `ok: false`; either way the batch must stay in the desired state, so that the
 * next resync programs it. `prepare` runs once, alongside the first apply (host sysctls): like
 * everything else, nothing touches the kernel before the datastore snapshot is complete.
 */
export interface AgentDataplane {
  /** Starts what a first apply will use (resident processes) while the snapshot is read; touches no kernel state. */
  warm?(): void;
  prepare?(): Promise<void>;
  apply(updates: readonly DataplaneUpdate[]): Promise<DataplaneOutcome | void>;
  resync(): Promise<DataplaneOutcome | void>;
  /** True when policy chains and sets that changes left unused wait in the kernel for {@link tidy}. */
  untidy?(): boolean;
  /** Deletes them (asked once changes have paused for a while). */
  tidy?(): Promise<DataplaneOutcome | void>;
  /** Releases resources (not the kernel state, which stays as programmed). */
  close?(): Promise<void>;
}

/** A failed dataplane call, with the endpoints it could not program. */
export class DataplaneFailure extends Error {
  constructor(
    message: string,
    readonly failedEndpoints: string[],
  ) {
    super(message);
    this.name = 'DataplaneFailure';
  }
}

/** Throws a {@link DataplaneFailure} when the outcome says something was not programmed. */
export function checkOutcome(outcome: DataplaneOutcome | void, what: string): void {
  if (outcome === undefined || outcome.ok) return;
  const reasons = [
    ...(outcome.nft?.error ? [`nftables: ${outcome.nft.error.message.split('\n')[0]}`] : []),
    ...(outcome.routes?.errors ?? []).slice(0, 3).map((e) => `route ${e.dst}: ${e.message}`),
    ...(outcome.vxlan?.errors ?? []).slice(0, 3).map((e) => `VXLAN: ${e}`),
  ];
  throw new DataplaneFailure(`${what} failed: ${reasons.join('; ') || 'unknown error'}`, outcome.failedEndpoints ?? []);
}
