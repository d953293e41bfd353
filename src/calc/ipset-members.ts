/**
 * The IP-set member index (Felix's `SelectorAndNamedPortIndex`): for every active IP set, which
 * addresses are in it. Items are every endpoint in the cluster (local or not) and every network
 * set; their effective labels include their profiles' `labelsToApply` (so `kns.<ns>` gives the
 * `pcns.*` labels). The selector package's {@link LabelIndex} says which items each set's
 * selector matches; this class turns matches into members:
 *
 * - a `net` set holds the CIDRs of its items (endpoint /32s and /128s, network-set nets);
 * - an `ip-port` (named-port) set holds `<ip>,<proto>:<port>` for each matching endpoint that
 *   declares that named port with that protocol.
 *
 * Members are reference-counted (two items may contribute the same address), so a member is
 * added on its first contribution and removed on its last; only counts above one are kept. Work
 * is proportional to the change: a label change re-evaluates only the selectors the label index
 * files under the changed labels, and an address change touches only the sets the item is in.
 */
import { LabelIndex } from '../selector/mod.ts';
import type { ActiveIpSetCallbacks, IpSetCallbacks } from './callbacks.ts';
import { type EndpointData, type NamedPort, type NetworkSetData, sameMembersSource } from './endpoint-data.ts';
import type { IpSetSpec } from './rule-compiler.ts';

/**
 * What an item contributes members from, kept as the label index's data of the item (no map of
 * our own). Endpoint addresses are host CIDRs (`/32`, `/128`): the bare address a named-port
 * member needs is derived, not kept. Memory per remote endpoint (issue 14): an item with one
 * address and no named port (most endpoints) is that address's string itself, and one address
 * with named ports is kept without a list around it: an object and a one-element array cost
 * ~100 bytes per endpoint, a list ~56.
 */
type ItemSource = string | { readonly cidrs: string | readonly string[]; readonly ports: readonly NamedPort[] };

/** The compact source of these addresses and named ports (see {@link ItemSource}). */
function itemSource(cidrs: readonly string[], ports: readonly NamedPort[]): ItemSource {
  if (cidrs.length !== 1) return { cidrs, ports };
  return ports.length === 0 ? cidrs[0]! : { cidrs: cidrs[0]!, ports };
}

function cidrsOf(item: ItemSource): readonly string[] {
  const cidrs = typeof item === 'string' ? item : item.cidrs;
  return typeof cidrs === 'string' ? [cidrs] : cidrs;
}

function portsOf(item: ItemSource): readonly NamedPort[] {
  return typeof item === 'string' ? NO_PORTS : item.ports;
}

interface SetState {
  spec: IpSetSpec;
  /** The members: each has at least one contributing item. */
  members: Set<string>;
  /**
   * member → contributing items beyond the first, for the few members with more than one: nearly
   * every member comes from one item, and a `Set` entry is a third smaller than a `Map` entry.
   */
  extra: Map<string, number>;
}

/** Maintains the members of the active IP sets; reports set lifecycle and member changes downstream. */
export class IpSetMemberIndex implements ActiveIpSetCallbacks {
  readonly #out: IpSetCallbacks;
  readonly #index: LabelIndex<ItemSource>;
  readonly #sets = new Map<string, SetState>();

  constructor(out: IpSetCallbacks) {
    this.#out = out;
    this.#index = new LabelIndex<ItemSource>({
      onMatchStarted: (setId, _itemId, item) => this.#contribute(setId, item, +1),
      onMatchStopped: (setId, _itemId, item) => this.#contribute(setId, item, -1),
    });
  }

  /** A set is needed: announce it, then compute its members. */
  onIpSetActive(spec: IpSetSpec): void {
    if (this.#sets.has(spec.id)) return;
    this.#sets.set(spec.id, { spec, members: new Set(), extra: new Map() });
    this.#out.onIpSetAdded(spec.id, spec.kind);
    // Service sets have no members here (no service data); everything else is a selector.
    if (spec.service === undefined) this.#index.updateSelector(spec.id, spec.selector);
  }

  /** A set is no longer needed: announce its removal and forget it (its members go with it). */
  onIpSetInactive(id: string): void {
    if (!this.#sets.has(id)) return;
    this.#sets.delete(id);
    this.#out.onIpSetRemoved(id);
    this.#index.deleteSelector(id); // stop callbacks find no set and do nothing
  }

  /** Any endpoint in the cluster (undefined: deleted). */
  onEndpointUpdate(id: string, endpoint: EndpointData | undefined): void {
    if (endpoint === undefined) this.#deleteItem(id);
    else this.#updateItem(id, endpoint.labels, endpoint.profiles, itemSource(endpoint.cidrs, endpoint.ports));
  }

  /** A NetworkSet or GlobalNetworkSet (undefined: deleted). */
  onNetworkSetUpdate(id: string, set: NetworkSetData | undefined): void {
    if (set === undefined) this.#deleteItem(id);
    else this.#updateItem(id, set.labels, set.parents, itemSource(set.cidrs, NO_PORTS));
  }

  /** A profile's labels, which its endpoints inherit (undefined: the profile is gone). */
  onParentUpdate(name: string, labels: Readonly<Record<string, string>> | undefined): void {
    if (labels === undefined) this.#index.deleteParent(name);
    else this.#index.updateParentLabels(name, labels);
  }

  /** Re-files the set selectors for the item population now (call once the snapshot is in). */
  optimize(): void {
    this.#index.optimize();
  }

  /** Current members of a set (a copy; for tests and tracing). */
  membersOf(id: string): string[] {
    return [...(this.#sets.get(id)?.members ?? [])].sort();
  }

  /** Number of active sets. */
  get setCount(): number {
    return this.#sets.size;
  }

  /** Number of items (endpoints and network sets) indexed. */
  get itemCount(): number {
    return this.#index.itemCount;
  }

  /** How many distinct label sets and parent lists the items share. */
  get sharedValues(): { labelSets: number; parentLists: number } {
    return this.#index.sharedValues;
  }

  #updateItem(id: string, labels: Readonly<Record<string, string>>, parents: readonly string[], source: ItemSource): void {
    const old = this.#index.itemData(id);
    if (old !== undefined && old !== source && !sameMembersSource({ cidrs: cidrsOf(old), ports: portsOf(old) }, { cidrs: cidrsOf(source), ports: portsOf(source) })) {
      // Addresses or ports changed: move this item's contributions in the sets it is in now.
      for (const setId of this.#index.selectorsMatching(id)) {
        const state = this.#sets.get(setId);
        if (state === undefined) continue;
        for (const m of membersFrom(state.spec, source)) this.#add(state, m);
        for (const m of membersFrom(state.spec, old)) this.#remove(state, m);
      }
    }
    this.#index.updateItem(id, labels, parents, source);
  }

  #deleteItem(id: string): void {
    this.#index.deleteItem(id);
  }

  #contribute(setId: string, item: ItemSource | undefined, sign: 1 | -1): void {
    const state = this.#sets.get(setId);
    if (state === undefined || item === undefined) return;
    for (const m of membersFrom(state.spec, item)) {
      if (sign > 0) this.#add(state, m);
      else this.#remove(state, m);
    }
  }

  #add(state: SetState, member: string): void {
    if (state.members.has(member)) {
      state.extra.set(member, (state.extra.get(member) ?? 0) + 1);
      return;
    }
    state.members.add(member);
    this.#out.onIpSetMemberAdded(state.spec.id, member);
  }

  #remove(state: SetState, member: string): void {
    if (!state.members.has(member)) return;
    const extra = state.extra.get(member);
    if (extra !== undefined) {
      if (extra > 1) state.extra.set(member, extra - 1);
      else state.extra.delete(member);
      return;
    }
    state.members.delete(member);
    this.#out.onIpSetMemberRemoved(state.spec.id, member);
  }
}

/** The members an item contributes to a set. */
function membersFrom(spec: IpSetSpec, item: ItemSource): readonly string[] {
  const np = spec.namedPort;
  if (np === undefined) return cidrsOf(item);
  const out: string[] = [];
  for (const p of portsOf(item)) {
    if (p.name !== np.name || p.protocol !== np.protocol) continue;
    for (const cidr of cidrsOf(item)) out.push(`${cidr.slice(0, cidr.indexOf('/'))},${p.protocol}:${p.port}`);
  }
  return out;
}

const NO_PORTS: readonly NamedPort[] = Object.freeze([]);
