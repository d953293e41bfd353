/**
 * Which address ranges the lab uses, chosen so that it never shares a subnet with the machine
 * it runs on. The machine's own namespace keeps its addresses and routes; the lab's fabric (and
 * its second segment, its IPv6 fabric and its pod pools) take the first candidates that overlap
 * none of them, so an address of the lab can never also be one the machine reaches through a
 * real interface. Pure: `lab up` reads the machine (machine.ts) and records the choice in the
 * lab's state, which every later `lab` command uses.
 *
 * Candidates: the documentation ranges (RFC 5737: 192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24)
 * then the /24s of the benchmarking range 198.18.0.0/15 (RFC 2544) for the IPv4 segments; /64s of
 * 2001:db8::/32 (RFC 3849) for the IPv6 fabric; private /16s and ULA /48s for the pod pools.
 */
import { MargayError } from '../errors/mod.ts';
import { type Cidr, cidrsOverlap, formatCidr, formatIp, nthIp, parseCidr, parseCidrOrIp } from '../net/mod.ts';

/** A network in use on the machine, and where it was seen (for messages). */
export interface UsedNetwork {
  /** The network, e.g. `192.0.2.0/24`. */
  cidr: string;
  /** e.g. `eth0 address 192.0.2.2/24`, `route 10.0.0.0/8 dev eth1`. */
  what: string;
}

/** The ranges of one lab. */
export interface LabRanges {
  /** The host fabric, a /24. */
  fabric: string;
  /** The second segment behind the router (with --router), a /24. */
  second?: string;
  /** The IPv6 host fabric (with --ipv6), a /64. */
  fabric6?: string;
  /** The IPv6 second segment behind the router (with --router and --ipv6), a /64. */
  second6?: string;
  /** The IPv4 pod pool, a /16. */
  pool4: string;
  /** The IPv6 pod pool (with --ipv6), a /48. */
  pool6?: string;
  /** Kubernetes service IPs (with --kubernetes), a /16: virtual, but never one of the machine's. */
  services?: string;
}

/** The IPv4 segment candidates: the three documentation /24s, then the /24s of 198.18.0.0/15. */
export const SEGMENT_CANDIDATES: readonly string[] = [
  '192.0.2.0/24',
  '198.51.100.0/24',
  '203.0.113.0/24',
  ...Array.from({ length: 512 }, (_, i) => `198.${18 + (i >> 8)}.${i & 255}.0/24`),
];

/** The IPv6 fabric candidates: 2001:db8::/64, 2001:db8:1::/64 … 2001:db8:ff::/64. */
export const FABRIC6_CANDIDATES: readonly string[] = Array.from({ length: 256 }, (_, i) => (i === 0 ? '2001:db8::/64' : `2001:db8:${i.toString(16)}::/64`));

/** The pod pool candidates. */
export const POOL4_CANDIDATES: readonly string[] = ['10.244.0.0/16', '10.245.0.0/16', '10.246.0.0/16', '10.247.0.0/16', '172.28.0.0/16', '172.29.0.0/16', '172.30.0.0/16', '172.31.0.0/16'];
export const POOL6_CANDIDATES: readonly string[] = ['fd00:10:244::/48', 'fd00:10:245::/48', 'fd00:10:246::/48', 'fd00:10:247::/48'];
/** The Kubernetes service range candidates (kubeadm's default first). */
export const SERVICES_CANDIDATES: readonly string[] = ['10.96.0.0/16', '10.97.0.0/16', '10.98.0.0/16', '10.99.0.0/16', '172.24.0.0/16', '172.25.0.0/16'];

/** What each range is for, in refusals. */
const PURPOSES: Record<keyof LabRanges, string> = {
  fabric: 'host fabric',
  second: 'second segment (--router)',
  fabric6: 'IPv6 host fabric (--ipv6)',
  second6: 'IPv6 second segment (--router --ipv6)',
  pool4: 'IPv4 pod pool',
  pool6: 'IPv6 pod pool (--ipv6)',
  services: 'Kubernetes service range (--kubernetes)',
};

interface Used {
  net: Cidr;
  what: string;
}

/** The first candidate that overlaps nothing in `used`; else a refusal naming what is in the way. */
function firstFree(purpose: keyof LabRanges, candidates: readonly string[], used: Used[]): string {
  const blocked: string[] = [];
  for (const text of candidates) {
    const net = parseCidr(text)!;
    const hit = used.find((u) => cidrsOverlap(u.net, net));
    if (hit === undefined) return text;
    blocked.push(`${text} overlaps ${hit.what}`);
  }
  const shown = blocked.slice(0, 3).join('; ');
  const more = blocked.length > 3 ? `; and ${blocked.length - 3} more candidate(s)` : '';
  throw new MargayError(
    'MARGAY_ERR_LAB_NO_FREE_RANGE',
    `no free range for the lab's ${PURPOSES[purpose]}: every candidate overlaps an address or route of this machine (${shown}${more}); the lab was not started`,
  );
}

/**
 * Chooses the lab's ranges: each the first candidate that overlaps none of the machine's
 * networks nor a range chosen before it. Throws MARGAY_ERR_LAB_NO_FREE_RANGE when one has none.
 */
export function chooseLabRanges(machine: readonly UsedNetwork[], needs: { router: boolean; ipv6: boolean; kubernetes?: boolean }): LabRanges {
  const used: Used[] = machine.flatMap((u) => {
    const net = parseCidrOrIp(u.cidr);
    // A default route (a /0) is no subnet: it says where everything else goes.
    return net && net.prefix > 0 ? [{ net, what: u.what }] : [];
  });
  const take = (purpose: keyof LabRanges, candidates: readonly string[]): string => {
    const chosen = firstFree(purpose, candidates, used);
    used.push({ net: parseCidr(chosen)!, what: `the lab's ${PURPOSES[purpose]}` });
    return chosen;
  };
  const ranges: LabRanges = { fabric: take('fabric', SEGMENT_CANDIDATES), pool4: take('pool4', POOL4_CANDIDATES) };
  if (needs.router) ranges.second = take('second', SEGMENT_CANDIDATES);
  if (needs.ipv6) {
    ranges.fabric6 = take('fabric6', FABRIC6_CANDIDATES);
    ranges.pool6 = take('pool6', POOL6_CANDIDATES);
    if (needs.router) ranges.second6 = take('second6', FABRIC6_CANDIDATES);
  }
  if (needs.kubernetes) ranges.services = take('services', SERVICES_CANDIDATES);
  return ranges;
}

/** `ip -j addr` output as the networks of the machine's interface addresses. */
export function addressNetworks(json: string): UsedNetwork[] {
  const links = JSON.parse(json || '[]') as { ifname?: string; addr_info?: { local?: string; prefixlen?: number }[] }[];
  return links.flatMap((link) =>
    (link.addr_info ?? []).flatMap((a) => {
      const net = a.local !== undefined && a.prefixlen !== undefined ? parseCidr(`${a.local}/${a.prefixlen}`) : undefined;
      return net ? [{ cidr: formatCidr(net), what: `${link.ifname ?? '?'} address ${a.local}/${a.prefixlen}` }] : [];
    }),
  );
}

/** `ip -j route show table all` output (either family) as route destinations; default routes left out. */
export function routeNetworks(json: string): UsedNetwork[] {
  const routes = JSON.parse(json || '[]') as { dst?: string; dev?: string; table?: string; type?: string }[];
  return routes.flatMap((r) => {
    if (r.dst === undefined || r.dst === 'default') return [];
    const net = parseCidrOrIp(r.dst);
    if (!net) return [];
    const where = [r.dev ? `dev ${r.dev}` : '', r.table && r.table !== 'main' ? `table ${r.table}` : ''].filter(Boolean).join(' ');
    return [{ cidr: formatCidr(net), what: `${r.type && r.type !== 'unicast' ? `${r.type} ` : ''}route ${r.dst}${where ? ` ${where}` : ''}` }];
  });
}

/** The n-th address of a range, with the range's prefix (`192.0.2.0/24`, 11 → `192.0.2.11/24`). */
export function nthAddress(range: string, n: number): string {
  const net = parseCidr(range)!;
  return `${formatIp(nthIp(net, n))}/${net.prefix}`;
}

/** The n-th address of a range, alone (`192.0.2.0/24`, 1 → `192.0.2.1`). */
export function nthIpOf(range: string, n: number): string {
  return formatIp(nthIp(parseCidr(range)!, n));
}
