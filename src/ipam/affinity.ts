/**
 * The block affinity record, Calico's `model.BlockAffinity`: `{"state":"confirmed","deleted":false}`
 * under `/calico/ipam/v2/host/<node>/ipv4/block/<cidr>`. A host claims a block in two phases:
 * `pending` (written first, on its own) then `confirmed` (written in the same transaction that
 * creates the block). `pendingDeletion` is what Calico writes while it gives a block up.
 */

/** The states of an affinity. */
export const AFFINITY_STATES = ['pending', 'confirmed', 'pendingDeletion'] as const;
/** One state of an affinity. */
export type AffinityState = (typeof AFFINITY_STATES)[number];

/** A decoded affinity record. */
export interface AffinityRecord {
  state: AffinityState;
  deleted: boolean;
}

/**
 * Decodes a stored affinity. A record without a state is taken as `confirmed` (Calico's records
 * before states existed). @throws {SyntaxError|TypeError} when the text is not an affinity.
 */
export function decodeAffinity(text: string): AffinityRecord {
  const raw = JSON.parse(text) as Record<string, unknown>;
  if (typeof raw !== 'object' || raw === null) throw new TypeError('not a block affinity');
  const state = raw.state === undefined || raw.state === '' ? 'confirmed' : raw.state;
  if (!AFFINITY_STATES.includes(state as AffinityState)) throw new TypeError(`unknown affinity state ${JSON.stringify(raw.state)}`);
  return { state: state as AffinityState, deleted: raw.deleted === true };
}

/** Encodes an affinity as Calico stores it. */
export function encodeAffinity(state: AffinityState): string {
  return JSON.stringify({ state, deleted: false });
}
