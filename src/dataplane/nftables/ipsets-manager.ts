/**
 * The IP sets manager (Felix's `ipsets` manager): keeps the members of every IP set the
 * calculation graph sends and renders each into one named set per family that has members:
 * plain addresses while every member is a single address, an interval set of CIDRs otherwise
 * (the name says which). When a set's shape changes (a family appears or empties, it becomes an
 * interval set), the rules that use it must be written again: its users are told.
 *
 * Memory (issue 14): a net set's host members (`/32`, `/128`, most members: endpoints) are kept
 * per family in the form a plain set's elements take (state.ts), and that very `Set` is handed to
 * the desired state, which the driver's view of the kernel shares in turn: one copy of each
 * member in the dataplane, its string the graph's own. Handed-over sets never change, so the
 * first change after a render copies them.
 */
import type { DataplaneUpdate, IpSetKind } from '../../calc/mod.ts';
import type { Manager } from '../manager.ts';
import { canonicalIp, disjointNets, formatCidr, ipv4Value, parseCidrOrIp, type Family } from '../../net/mod.ts';
import { ipSetName, setFlags, setType, type SetKind } from './names.ts';
import type { NftTable } from './table.ts';

const PROTOCOLS: Record<string, number> = { tcp: 6, udp: 17, sctp: 132, udplite: 136 };

/** Parses an ip-port member `<ip>,<proto>:<port>` into its family and canonical set element. */
export function ipPortElement(member: string): { family: Family; element: string } | undefined {
  const comma = member.lastIndexOf(',');
  if (comma < 0) return undefined;
  const ip = canonicalIp(member.slice(0, comma));
  const m = /^([a-zA-Z]+|\d{1,3}):(\d{1,5})$/.exec(member.slice(comma + 1).trim());
  if (!ip || !m) return undefined;
  const protoText = (m[1] as string).toLowerCase();
  const proto = /^\d+$/.test(protoText) ? Number(protoText) : PROTOCOLS[protoText];
  const port = Number(m[2]);
  if (proto === undefined || proto > 255 || port > 65535) return undefined;
  return { family: ip.includes(':') ? 6 : 4, element: `${ip} . ${proto} . ${port}` };
}

/**
 * Turns the members of an IP set into the elements of one family's named set. Net members that
 * are all single addresses give a plain set of addresses (kept as host CIDRs, see state.ts); any
 * shorter prefix makes it an interval set of CIDRs (or `interval` forces one).
 */
export function setElements(
  kind: SetKind,
  members: Iterable<string>,
  family: Family,
  options: { warn?: (m: string) => void; interval?: boolean } = {},
): { elements: Set<string>; interval: boolean } {
  if (kind === 'net') {
    const c = disjointNets(members);
    for (const bad of c.invalid) options.warn?.(`ignoring invalid IP set member ${JSON.stringify(bad)}`);
    const cidrs = family === 4 ? c.v4 : c.v6;
    const full = `/${family === 4 ? 32 : 128}`;
    const interval = options.interval === true || cidrs.some((x) => !x.endsWith(full));
    return { elements: new Set(cidrs), interval };
  }
  const out = new Set<string>();
  for (const m of members) {
    const e = ipPortElement(m);
    if (!e) options.warn?.(`ignoring invalid ip-port member ${JSON.stringify(m)}`);
    else if (e.family === family) out.add(e.element);
  }
  return { elements: out, interval: false };
}

/** The family of a member that is a canonical host CIDR (`10.0.0.1/32`, `fd00::1/128`), else undefined. */
function hostFamily(member: string): Family | undefined {
  // Most members: `a.b.c.d/32` in Go's form, which is canonical (no parse, no text made).
  if (member.endsWith('/32') && ipv4Value(member, member.length - 3) >= 0) return 4;
  const c = parseCidrOrIp(member);
  if (c === undefined || c.prefix !== (c.family === 4 ? 32 : 128) || formatCidr(c) !== member) return undefined;
  return c.family;
}

/** The members of one IP set. */
interface Members {
  kind: IpSetKind;
  /** A net set's host members per family: the elements of its plain sets as they are. */
  hosts: Record<Family, Set<string>>;
  /** Every other member: a net set's other nets (and anything invalid), an ip-port set's members. */
  others: Set<string>;
  /** True while `hosts` are held by the desired state (copy them before a change). */
  handedOver: boolean;
}

function newMembers(kind: IpSetKind): Members {
  return { kind, hosts: { 4: new Set(), 6: new Set() }, others: new Set(), handedOver: false };
}

/** Adds (`add`) or removes one member. */
function changeMember(set: Members, member: string, add: boolean): void {
  const family = set.kind === 'net' ? hostFamily(member) : undefined;
  if (family === undefined) {
    if (add) set.others.add(member);
    else set.others.delete(member);
    return;
  }
  if (set.handedOver) {
    set.hosts = { 4: new Set(set.hosts[4]), 6: new Set(set.hosts[6]) };
    set.handedOver = false;
  }
  if (add) set.hosts[family].add(member);
  else set.hosts[family].delete(member);
}

/** Every member of a set. */
function* allMembers(set: Members): Iterable<string> {
  yield* set.hosts[4];
  yield* set.hosts[6];
  yield* set.others;
}

/** Renders the graph's IP sets into the table. */
export class IpSetsManager implements Manager {
  readonly #table: NftTable;
  /** Told the owners whose rules use a set whose shape changed. */
  readonly #onShapeChanged: (owners: ReadonlySet<string>) => void;
  readonly #sets = new Map<string, Members>();
  readonly #dirty = new Set<string>();
  /** id → the named sets rendered for it. */
  readonly #rendered = new Map<string, string[]>();

  constructor(table: NftTable, onShapeChanged: (owners: ReadonlySet<string>) => void) {
    this.#table = table;
    this.#onShapeChanged = onShapeChanged;
  }

  /** True when some set waits to be rendered. */
  get pending(): boolean {
    return this.#dirty.size > 0;
  }

  onUpdate(u: DataplaneUpdate): void {
    switch (u.type) {
      case 'ipset-update': {
        const set = newMembers(u.kind);
        for (const m of u.members) changeMember(set, m, true);
        this.#sets.set(u.id, set);
        this.#dirty.add(u.id);
        break;
      }
      case 'ipset-delta': {
        let set = this.#sets.get(u.id);
        if (!set) {
          this.#table.warn(`delta for unknown IP set ${u.id}; creating it`);
          const sample = u.added[0] ?? '';
          set = newMembers(sample.includes(',') ? 'ip-port' : 'net');
          this.#sets.set(u.id, set);
        }
        for (const m of u.removed) changeMember(set, m, false);
        for (const m of u.added) changeMember(set, m, true);
        this.#dirty.add(u.id);
        break;
      }
      case 'ipset-remove':
        this.#sets.delete(u.id);
        this.#dirty.add(u.id);
        break;
      default:
        break;
    }
  }

  /** Every set must be rendered again (the families or settings changed). */
  markAllDirty(): void {
    for (const id of [...this.#sets.keys(), ...this.#rendered.keys()]) this.#dirty.add(id);
  }

  completeDeferredWork(): void {
    for (const id of this.#dirty) this.#render(id);
    this.#dirty.clear();
  }

  #render(id: string): void {
    const table = this.#table;
    const entry = this.#sets.get(id);
    const old = this.#rendered.get(id) ?? [];
    const names: string[] = [];
    const families = new Map<Family, boolean>();
    if (entry) {
      // Only host members: each family's plain set is their own Set, handed over as it is.
      const plain = entry.kind === 'net' && entry.others.size === 0;
      if (plain) entry.handedOver = true;
      for (const family of table.families()) {
        const { elements, interval } = plain
          ? { elements: entry.hosts[family], interval: false }
          : setElements(entry.kind, allMembers(entry), family, { warn: (m) => table.warn(`IP set ${id}: ${m}`) });
        if (elements.size === 0) continue;
        const name = ipSetName(entry.kind, family, id, interval);
        table.desired.setSet({ name, type: setType(entry.kind, family), flags: setFlags(entry.kind, interval), elements });
        names.push(name);
        families.set(family, interval);
      }
    }
    for (const name of old) if (!names.includes(name)) table.desired.deleteSet(name);
    if (names.length > 0) this.#rendered.set(id, names);
    else this.#rendered.delete(id);
    // Rules using the set are written per family that has members: re-render them on a change.
    const before = table.ipSetShapes.get(id);
    const same =
      (before === undefined && families.size === 0) ||
      (before !== undefined &&
        entry !== undefined &&
        before.kind === entry.kind &&
        before.families.size === families.size &&
        [...families].every(([f, interval]) => before.families.get(f) === interval));
    if (entry && families.size > 0) table.ipSetShapes.set(id, { kind: entry.kind, families });
    else table.ipSetShapes.delete(id);
    if (!same) this.#onShapeChanged(table.ipSetUsers(id));
  }
}
