/**
 * The routers a host that waits for its routers (unnumbered uplinks without peer discovery) keeps
 * connecting to after its BIRD restarted with graceful restart.
 *
 * Why: BIRD 2.0.12 started with `-R` locks its recovery on every channel of every BGP protocol
 * started then (proto/bgp/bgp.c, `bgp_start`), and unlocks a channel at the peer's End-of-RIB or
 * when the channel goes down after having come up (nest/proto.c, `channel_do_flush`). A waiting
 * (dynamic) template never establishes a session itself (the sessions it spawns do, and they start
 * after the recovery began, so they take no part in it), so its channels never come up: the lock
 * holds until `graceful restart wait` (60 s), and meanwhile the kernel protocol neither installs
 * nor withdraws routes. Restarting or removing the template does not release it (its channels go
 * from down to down). So a recovering BIRD gets no waiting template at all, and an active session
 * to each router found on the uplinks (the neighbour table: the routers advertise themselves);
 * those lock the recovery until their End-of-RIB, as any BGP session does. The next configuration
 * adds the waiting templates back (started after the recovery began, they lock nothing) and keeps
 * the active sessions (removing one would reset it); the set is kept on disk so that an agent
 * restarting next to that BIRD renders the same sessions.
 */
import { readFileSync, rmSync, writeFileSync } from 'node:fs';

/** Interface → link-local routers kept from the last graceful restart, persisted in one JSON file. */
export class KeptRouters {
  readonly path: string;
  #routers: Record<string, string[]>;

  constructor(path: string) {
    this.path = path;
    this.#routers = readRouters(path);
  }

  /** The routers kept (interface → addresses). */
  get routers(): Record<string, string[]> {
    return this.#routers;
  }

  /** Replaces the set (interfaces without a router are left out); an empty set removes the file. */
  set(found: Record<string, string[]>): void {
    this.#routers = Object.fromEntries(Object.entries(found).filter(([, ips]) => ips.length > 0));
    if (Object.keys(this.#routers).length === 0) rmSync(this.path, { force: true });
    else writeFileSync(this.path, JSON.stringify(this.#routers), { mode: 0o600 });
  }
}

function readRouters(path: string): Record<string, string[]> {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as unknown;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return {};
    const out: Record<string, string[]> = {};
    for (const [iface, ips] of Object.entries(parsed)) {
      if (Array.isArray(ips)) out[iface] = ips.filter((ip): ip is string => typeof ip === 'string' && /^fe80:[0-9a-f:]*$/i.test(ip));
    }
    return out;
  } catch {
    return {};
  }
}
