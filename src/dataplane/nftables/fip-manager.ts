/**
 * The floating IP manager (Felix's `floatingIPManager`): 1:1 NAT for the floating IPs
 * (`ipNATs`) of local workloads.
 *
 * As in Felix, a floating IP is a destination address only: traffic to the external address is
 * DNATed to the internal one where it enters the host (prerouting) or leaves a host process
 * (output), before routing and before the workload's ingress policy, which therefore sees the
 * internal address. Replies go back out from the external address through conntrack. There is no
 * SNAT of the workload's own outbound traffic (Felix leaves that to the border); the one SNAT is
 * the hairpin: a workload that reaches its own floating IP gets the packet back from the external
 * address, not from itself. The route that sends the external address to the workload's
 * interface comes from the route resolver.
 *
 * Chains, present only while some local workload has a floating IP:
 * `fip-dnat` (`<daddr> EXT dnat to INT`) jumped from the base chains `nat-fip-prerouting` and
 * `nat-fip-output` (dstnat, -100); `fip-snat` (`<saddr> INT <daddr> INT snat to EXT`) from
 * `nat-fip-postrouting` (priority 99: before NAT outgoing's masquerade at srcnat).
 */
import type { DataplaneUpdate, WorkloadEndpointPlan } from '../../calc/mod.ts';
import type { Manager } from '../manager.ts';
import { BaseChains, StaticChains } from './names.ts';
import { rule, type ChainSpec } from './state.ts';
import type { NftTable } from './table.ts';

type Nat = NonNullable<WorkloadEndpointPlan['nats']>[number];

/** Felix's choice when addresses collide: per external IP the smallest internal IP, per internal IP the smallest external IP. */
export function natMappings(nats: Iterable<Nat>): { dnat: Map<string, string>; snat: Map<string, string> } {
  const dnat = new Map<string, string>();
  for (const { internal, external } of nats) {
    const had = dnat.get(external);
    if (had === undefined || internal < had) dnat.set(external, internal);
  }
  const snat = new Map<string, string>();
  for (const [external, internal] of dnat) {
    const had = snat.get(internal);
    if (had === undefined || external < had) snat.set(internal, external);
  }
  return { dnat, snat };
}

/** The floating IP chains for these NATs, for the table's families (none when there is nothing to NAT). */
export function renderFloatingIpChains(nats: Iterable<Nat>, families: readonly number[]): ChainSpec[] {
  const { dnat, snat } = natMappings(nats);
  const fam = (ip: string): 'ip' | 'ip6' => (ip.includes(':') ? 'ip6' : 'ip');
  const wanted = (ip: string): boolean => families.includes(ip.includes(':') ? 6 : 4);
  const sorted = (m: Map<string, string>) => [...m].filter(([k]) => wanted(k)).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  const dnats = sorted(dnat).map(([ext, int]) => rule(`${fam(ext)} daddr ${ext} dnat ${fam(ext)} to ${int}`, `floating ip ${ext}`));
  const snats = sorted(snat).map(([int, ext]) => rule(`${fam(int)} saddr ${int} ${fam(int)} daddr ${int} snat ${fam(int)} to ${ext}`, `floating ip hairpin ${ext}`));
  if (dnats.length === 0) return [];
  const nat = (hook: 'prerouting' | 'output' | 'postrouting', priority: number) => ({ type: 'nat', hook, priority, policy: 'accept' }) as const;
  return [
    { name: StaticChains.floatingIpDnat, rules: dnats },
    { name: StaticChains.floatingIpSnat, rules: snats },
    { name: BaseChains.natFloatingIpPrerouting, base: nat('prerouting', -100), rules: [rule(`jump ${StaticChains.floatingIpDnat}`, 'floating ips')] },
    { name: BaseChains.natFloatingIpOutput, base: nat('output', -100), rules: [rule(`jump ${StaticChains.floatingIpDnat}`, 'floating ips')] },
    { name: BaseChains.natFloatingIpPostrouting, base: nat('postrouting', 99), rules: [rule(`jump ${StaticChains.floatingIpSnat}`, 'floating ip hairpin')] },
  ];
}

/** Renders the local workloads' floating IPs into the table. */
export class FloatingIpManager implements Manager {
  readonly #table: NftTable;
  /** workload key → its NATs. */
  readonly #nats = new Map<string, readonly Nat[]>();
  #dirty = true;
  #rendered: string[] = [];

  constructor(table: NftTable) {
    this.#table = table;
  }

  /** True when a change waits to be rendered. */
  get pending(): boolean {
    return this.#dirty;
  }

  onUpdate(u: DataplaneUpdate): void {
    if (u.type === 'workload-update') {
      const nats = u.endpoint.nats ?? [];
      if (nats.length === 0 && !this.#nats.has(u.endpoint.key)) return;
      if (nats.length > 0) this.#nats.set(u.endpoint.key, nats);
      else this.#nats.delete(u.endpoint.key);
      this.#dirty = true;
    } else if (u.type === 'workload-remove') {
      if (this.#nats.delete(u.key)) this.#dirty = true;
    }
  }

  /** The settings changed (families): render again. */
  markDirty(): void {
    this.#dirty = true;
  }

  completeDeferredWork(): void {
    if (!this.#dirty) return;
    this.#dirty = false;
    const chains = renderFloatingIpChains([...this.#nats.values()].flat(), this.#table.families());
    for (const chain of chains) this.#table.putChain(chain);
    const names = chains.map((c) => c.name);
    for (const name of this.#rendered) if (!names.includes(name)) this.#table.dropChain(name);
    this.#rendered = names;
  }
}
