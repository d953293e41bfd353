/**
 * The route resolver (the part of Felix's `L3RouteResolver` and route manager this agent
 * needs): the routes this host must have for its own workloads.
 *
 * - Each local workload address gets a `workload` route (its /32 or /128 through the workload's
 *   interface), and so does each of its floating IPs (external address of `ipNATs`).
 * - Each IPAM block affine to this host (`affinity: "host:<hostname>"`, not deleted) gets a
 *   `blackhole` route, so traffic to unassigned addresses of the block stops here instead of
 *   following the default route; /32 and /128 blocks get none (as in Felix).
 *
 * Routes are keyed by destination. When two sources want the same destination (two workloads
 * claiming one address), the one with the smallest source key wins, deterministically.
 */
import type { RouteCallbacks } from './callbacks.ts';
import type { EndpointData } from './endpoint-data.ts';
import type { EndpointId } from './ids.ts';
import type { RouteSpec } from './model.ts';
import { formatCidr, isHostCidr, parseCidrOrIp } from '../net/mod.ts';

/** The fields of a stored IPAM block (`/calico/ipam/v2/assignment/...`) this resolver reads. */
export interface IpamBlockValue {
  cidr?: string;
  affinity?: string | null;
  deleted?: boolean;
}

/** Computes this host's workload and blackhole routes. */
export class RouteResolver {
  readonly #hostname: string;
  readonly #out: RouteCallbacks;
  /** dst → source key → route. */
  readonly #wanted = new Map<string, Map<string, RouteSpec>>();
  /** source key → the destinations it wants. */
  readonly #bySource = new Map<string, string[]>();
  /** dst → the route last reported (never changed once reported). */
  readonly #chosen = new Map<string, RouteSpec>();

  constructor(hostname: string, out: RouteCallbacks) {
    this.#hostname = hostname;
    this.#out = out;
  }

  /** A local endpoint (undefined: deleted or no longer local). Host endpoints get no routes. */
  onEndpointUpdate(id: EndpointId, endpoint: EndpointData | undefined): void {
    const routes: RouteSpec[] = [];
    if (endpoint !== undefined && endpoint.kind === 'workload' && endpoint.interfaceName !== '') {
      for (const dst of endpoint.cidrs) routes.push({ type: 'workload', dst, interfaceName: endpoint.interfaceName });
      // A floating IP is routed to its workload too (Felix), so BGP announces it from this host.
      for (const { external } of endpoint.nats ?? []) {
        const dst = external.includes(':') ? `${external}/128` : `${external}/32`;
        if (!routes.some((r) => r.dst === dst)) routes.push({ type: 'workload', dst, interfaceName: endpoint.interfaceName });
      }
    }
    this.#setSource(`endpoint:${id}`, routes);
  }

  /** An IPAM block, keyed by its datastore key (undefined: deleted). */
  onBlockUpdate(key: string, block: IpamBlockValue | undefined): void {
    const routes: RouteSpec[] = [];
    if (block !== undefined && block.deleted !== true && block.affinity === `host:${this.#hostname}` && typeof block.cidr === 'string') {
      const cidr = parseCidrOrIp(block.cidr);
      if (cidr !== undefined && !isHostCidr(cidr)) routes.push({ type: 'blackhole', dst: formatCidr(cidr) });
    }
    this.#setSource(`block:${key}`, routes);
  }

  /** The routes wanted now, by destination (for tests). */
  routes(): RouteSpec[] {
    return [...this.#chosen.values()].map((route) => ({ ...route }));
  }

  #setSource(source: string, routes: RouteSpec[]): void {
    const oldDsts = this.#bySource.get(source) ?? [];
    const newDsts = routes.map((r) => r.dst);
    for (const route of routes) {
      let bySource = this.#wanted.get(route.dst);
      if (bySource === undefined) this.#wanted.set(route.dst, (bySource = new Map()));
      bySource.set(source, route);
    }
    for (const dst of oldDsts) {
      if (newDsts.includes(dst)) continue;
      const bySource = this.#wanted.get(dst);
      bySource?.delete(source);
      if (bySource?.size === 0) this.#wanted.delete(dst);
    }
    if (newDsts.length > 0) this.#bySource.set(source, newDsts);
    else this.#bySource.delete(source);
    for (const dst of new Set([...oldDsts, ...newDsts])) this.#choose(dst);
  }

  #choose(dst: string): void {
    const bySource = this.#wanted.get(dst);
    if (bySource === undefined) {
      if (this.#chosen.delete(dst)) this.#out.onRouteRemove(dst);
      return;
    }
    const first = [...bySource.keys()].sort()[0]!;
    const route = bySource.get(first)!;
    const last = this.#chosen.get(dst);
    if (last !== undefined && sameRoute(last, route)) return;
    this.#chosen.set(dst, route);
    this.#out.onRouteUpdate(route);
  }
}

function sameRoute(a: RouteSpec, b: RouteSpec): boolean {
  if (a.type !== b.type || a.dst !== b.dst) return false;
  return a.type !== 'workload' || a.interfaceName === (b as typeof a).interfaceName;
}
