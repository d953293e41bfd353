/**
 * The dataplane's two kinds of parts, as in Felix (`dataplane/linux/*_mgr.go` over `iptables/`,
 * `ipsets/`, `routetable/`, `vxlanfdb/`):
 *
 * - a {@link Manager} takes the calculation graph's messages, records them (cheaply, no kernel
 *   access) and, once a batch is recorded, brings its desired state up to date
 *   ({@link Manager.completeDeferredWork}); each manager manages one kind of thing (IP sets,
 *   policies, endpoints, routes, VXLAN…) and ignores the other messages;
 * - a driver owns kernel objects of one kind (a table, routes of a protocol, a device), reads
 *   them, diffs them against the desired state and applies the difference; `full` re-reads
 *   everything (a resync) instead of trusting what it remembers.
 *
 * The facade (mod.ts) feeds every manager every message, completes their work, then runs the
 * drivers side by side.
 */
import type { DataplaneUpdate } from '../calc/mod.ts';

/** Turns the graph's messages about one kind of thing into desired kernel state. */
export interface Manager {
  /** Records one update. Never touches the kernel; messages of other kinds are ignored. */
  onUpdate(update: DataplaneUpdate): void;
  /** Brings the desired state up to date with what was recorded since the last call. */
  completeDeferredWork(): void;
}
