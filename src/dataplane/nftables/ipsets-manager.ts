/**
 * The IP sets manager (Felix's `ipsets` manager): keeps the members of every IP set the
 * calculation graph sends and renders each into one named set per family that has members:
 * plain addresses while every member is a single address, an interval set of CIDRs otherwise
 * (the name says which). When a set's shape changes (a family appears or empties, it becomes an
 * interval set), the rules that use it must be written again: its users are told.
 */
import type { DataplaneUpdate, IpSetKind } from '../../calc/mod.ts';
import type { Manager } from '../manager.ts';
import { canonicalIp, disjointNets, type Family } from '../../net/mod.ts';
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
 * are all single addresses give a plain set of addresses; any shorter prefix makes it an interval
 * set of CIDRs (or `interval` forces one).
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
    return { elements: new Set(interval ? cidrs : cidrs.map((x) => x.slice(0, -full.length))), interval };
  }
  const out = new Set<string>();
  for (const m of members) {
    const e = ipPortElement(m);
    if (!e) options.warn?.(`ignoring invalid ip-port member ${JSON.stringify(m)}`);
    else if (e.family === family) out.add(e.element);
  }
  return { elements: out, interval: false };
}

/** Renders the graph's IP sets into the table. */
export class IpSetsManager implements Manager {
  readonly #table: NftTable;
  /** Told the owners whose rules use a set whose shape changed. */
  readonly #onShapeChanged: (owners: ReadonlySet<string>) => void;
  readonly #sets = new Map<string, { kind: IpSetKind; members: Set<string> }>();
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
      case 'ipset-update':
        this.#sets.set(u.id, { kind: u.kind, members: new Set(u.members) });
        this.#dirty.add(u.id);
        break;
      case 'ipset-delta': {
        let set = this.#sets.get(u.id);
        if (!set) {
          this.#table.warn(`delta for unknown IP set ${u.id}; creating it`);
          const sample = u.added[0] ?? '';
          set = { kind: sample.includes(',') ? 'ip-port' : 'net', members: new Set() };
          this.#sets.set(u.id, set);
        }
        for (const m of u.removed) set.members.delete(m);
        for (const m of u.added) set.members.add(m);
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
      for (const family of table.families()) {
        const { elements, interval } = setElements(entry.kind, entry.members, family, { warn: (m) => table.warn(`IP set ${id}: ${m}`) });
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
