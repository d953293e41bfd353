/**
 * The plan of a leaf–spine lab fabric (`lab up --fabric leaf-spine`, docs/lab.md "Fabrics"):
 * racks of hosts, one leaf per rack (two with `--dual-homed`), two spines, every link a veth
 * with only IPv6 link-local addresses (BGP unnumbered everywhere: no IPv4 address on any
 * uplink), eBGP between leaves and spines with ECMP, and the hosts' AS numbers from one of
 * Calico's classic fabric models:
 *
 * - `rack` (AS per rack): a rack's leaves and hosts share one AS; hosts peer over iBGP with
 *   their leaves, which reflect their routes (route-reflector clients, next hop self);
 * - `host` (AS per compute server): every host has its own AS and peers over eBGP.
 *
 * Pure: the lab records the plan in its state.
 */
import { MargayError } from '../../errors/mod.ts';
import { nthAddress } from '../ranges.ts';
import type { LabRanges } from '../ranges.ts';

/** Prefix of the lab's namespaces (plan.ts's LAB_PREFIX; repeated here to keep this file free of the lab's plan). */
const PREFIX = 'mgl-';

/** Options of a fabric. */
export interface FabricOptions {
  topology: 'leaf-spine';
  racks: number;
  hostsPerRack: number;
  /** Every host has two uplinks, one to each of its rack's two leaves. */
  dualHomed: boolean;
  /** Calico's fabric models: one AS per rack (iBGP to the leaves) or per host (eBGP). */
  asModel: 'rack' | 'host';
  /** Hosts also connect to the leaves they find (margay.io/peer-discovery: neighbors) instead of only waiting. */
  discovery?: boolean;
  /** BFD on every session: interval (ms) and multiplier (default 100 × 3). */
  bfd?: { intervalMs: number; multiplier: number };
}

/** One end of a fabric link. */
export interface LinkEnd {
  /** A router (`leaf-1a`, `spine-1`) or host (`host-1`) name. */
  node: string;
  netns: string;
  iface: string;
}

/** A point-to-point link (a veth pair), link-local addresses only. */
export interface FabricLink {
  a: LinkEnd;
  b: LinkEnd;
}

/** A leaf or a spine: FRR in its own namespace. */
export interface FabricRouter {
  name: string;
  netns: string;
  role: 'leaf' | 'spine';
  /** The rack a leaf serves (1-based). */
  rack?: number;
  asNumber: number;
  /** BGP router id (no address is configured: the links are unnumbered). */
  routerId: string;
}

/** One host's place in the fabric. */
export interface FabricHost {
  name: string;
  rack: number;
  asNumber: number;
  /** Its uplinks, `uplink0` (to leaf a) and with dual homing `uplink1` (to leaf b). */
  uplinks: string[];
  /** Its address (a /32 on its loopback): the Node's IPv4 address, never on an uplink. */
  loopback: string;
  loopback6?: string;
}

/** The whole fabric. */
export interface FabricPlan {
  options: FabricOptions;
  routers: FabricRouter[];
  hosts: FabricHost[];
  links: FabricLink[];
  bfd: { intervalMs: number; multiplier: number };
}

/** The spines' AS (all spines share one, as in RFC 7938). */
export const SPINE_AS = 65000;
/** Rack r's leaves are AS 65000 + r; so are its hosts in the AS-per-rack model. */
const RACK_AS_BASE = 65000;
/** Host n's AS in the AS-per-host model. */
const HOST_AS_BASE = 65100;
const SPINES = 2;

/** The label naming a lab Node's rack (the rack's BGPPeer selects on it). */
export const RACK_LABEL = 'margay.io/rack';

/** Checks the numbers a fabric is made of; the error names the flag and what is allowed. */
function checkOptions(options: FabricOptions): void {
  const whole = (n: number, min: number, max: number) => Number.isInteger(n) && n >= min && n <= max;
  if (!whole(options.racks, 1, 8)) throw new MargayError('MARGAY_ERR_USAGE', '--racks must be a whole number from 1 to 8');
  if (!whole(options.hostsPerRack, 1, 24)) throw new MargayError('MARGAY_ERR_USAGE', '--hosts-per-rack must be a whole number from 1 to 24');
  if (options.asModel !== 'rack' && options.asModel !== 'host') throw new MargayError('MARGAY_ERR_USAGE', '--as-model must be rack or host');
}

function leafName(rack: number, side: number): string {
  return `leaf-${rack}${side === 0 ? 'a' : 'b'}`;
}

/** Plans the fabric within the lab's chosen ranges (host loopbacks from the fabric range). */
export function planFabric(options: FabricOptions, ranges: LabRanges): FabricPlan {
  checkOptions(options);
  const routers: FabricRouter[] = [];
  const links: FabricLink[] = [];
  const hosts: FabricHost[] = [];
  const router = (name: string, role: FabricRouter['role'], asNumber: number, id: number, rack?: number) => {
    routers.push({ name, netns: `${PREFIX}${name}`, role, asNumber, routerId: `10.255.${role === 'spine' ? 0 : 1}.${id}`, ...(rack !== undefined ? { rack } : {}) });
  };
  for (let s = 1; s <= SPINES; s++) router(`spine-${s}`, 'spine', SPINE_AS, s);
  const sides = options.dualHomed ? 2 : 1;
  for (let r = 1; r <= options.racks; r++) {
    for (let side = 0; side < sides; side++) {
      const leaf = leafName(r, side);
      router(leaf, 'leaf', RACK_AS_BASE + r, r * 2 + side, r);
      for (let s = 1; s <= SPINES; s++) {
        links.push({ a: { node: leaf, netns: `${PREFIX}${leaf}`, iface: `s${s}` }, b: { node: `spine-${s}`, netns: `${PREFIX}spine-${s}`, iface: `l${r}${side === 0 ? 'a' : 'b'}` } });
      }
    }
    for (let i = 1; i <= options.hostsPerRack; i++) {
      const n = (r - 1) * options.hostsPerRack + i;
      const name = `host-${n}`;
      const uplinks = Array.from({ length: sides }, (_, side) => `uplink${side}`);
      hosts.push({
        name,
        rack: r,
        asNumber: options.asModel === 'rack' ? RACK_AS_BASE + r : HOST_AS_BASE + n,
        uplinks,
        loopback: nthAddress(ranges.fabric, 10 + n).replace(/\/\d+$/, '/32'),
        ...(ranges.fabric6 ? { loopback6: nthAddress(ranges.fabric6, 10 + n).replace(/\/\d+$/, '/128') } : {}),
      });
      uplinks.forEach((uplink, side) => {
        const leaf = leafName(r, side);
        links.push({ a: { node: name, netns: `${PREFIX}${name}`, iface: uplink }, b: { node: leaf, netns: `${PREFIX}${leaf}`, iface: `h${n}` } });
      });
    }
  }
  return { options, routers, hosts, links, bfd: options.bfd ?? { intervalMs: 100, multiplier: 3 } };
}

/** The links of a router or host, each seen from that node (its own end first). */
export function linksOf(plan: FabricPlan, node: string): { mine: LinkEnd; theirs: LinkEnd }[] {
  return plan.links.flatMap((l) => (l.a.node === node ? [{ mine: l.a, theirs: l.b }] : l.b.node === node ? [{ mine: l.b, theirs: l.a }] : []));
}

/** The link between two nodes (either order), or a usage error naming the links there are. */
export function findLink(plan: FabricPlan, x: string, y: string): FabricLink {
  const link = plan.links.find((l) => (l.a.node === x && l.b.node === y) || (l.a.node === y && l.b.node === x));
  if (!link) {
    const some = plan.links.slice(0, 4).map((l) => `${l.a.node} ${l.b.node}`).join(', ');
    throw new MargayError('MARGAY_ERR_USAGE', `no link between ${x} and ${y} in the fabric (links are between a host and its leaves, and between leaves and spines: e.g. ${some})`);
  }
  return link;
}

/** A router of the fabric by name, or a usage error listing them. */
export function findRouter(plan: FabricPlan, name: string): FabricRouter {
  const r = plan.routers.find((x) => x.name === name);
  if (!r) throw new MargayError('MARGAY_ERR_USAGE', `no router "${name}" in the fabric (routers: ${plan.routers.map((x) => x.name).join(', ')})`);
  return r;
}
