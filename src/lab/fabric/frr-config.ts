/**
 * FRR's configuration for a leaf or spine of the lab fabric (pure): every session over an
 * interface (`neighbor IFACE interface`, BGP unnumbered: IPv6 link-local, IPv4 with extended next
 * hop), BFD on every session, ECMP over equal paths. A leaf in the AS-per-rack model makes its
 * hosts route-reflector clients with itself as next hop (iBGP inside the rack).
 */
import { type FabricPlan, type FabricRouter, linksOf } from './plan.ts';

/** bgpd's configuration of `router`. */
export function fabricBgpdConfig(plan: FabricPlan, router: FabricRouter): string {
  const { intervalMs, multiplier } = plan.bfd;
  const ports = linksOf(plan, router.name);
  const toHosts = router.role === 'leaf' && plan.options.asModel === 'rack';
  const isHost = (node: string) => node.startsWith('host-');
  const lines = [
    'frr defaults datacenter',
    `router bgp ${router.asNumber}`,
    ` bgp router-id ${router.routerId}`,
    // FRR 8 exchanges no eBGP routes without a policy unless told otherwise.
    ' no bgp ebgp-requires-policy',
    ' no bgp network import-check',
    // Equal paths through different neighbour AS numbers are spread over (ECMP).
    ' bgp bestpath as-path multipath-relax',
    // FRR calls itself restarting (the R bit in its OPEN) for restart-time seconds after it
    // starts (120 by default). A host's BIRD recovering from a restart then does not wait for
    // the leaf's routes before pruning the kernel routes it kept (both sides restarting, RFC
    // 4724), and packets were lost (~70 at 100/s) when BIRD restarted within 2 minutes of the
    // leaf. The restart time only otherwise matters for the leaf's own graceful restart, which
    // the lab does not do (a failed router is silent: BFD takes its routes down).
    ' bgp graceful-restart restart-time 10',
    // BIRD 2.0.12 restarting (-R) sets the R bit but not the F bit (forwarding kept), so FRR drops
    // a host's stale routes as soon as its session is back (RFC 4724) and they return with BIRD's
    // update, which BIRD sends once its recovery ends: when it has the leaf's End-of-RIB. FRR held
    // that (IPv4) for its 1 s update coalescing: ~70 packets lost at 100/s. Without it, a few ms.
    ' coalesce-time 0',
  ];
  for (const { mine, theirs } of ports) {
    const internal = toHosts && isHost(theirs.node);
    lines.push(` neighbor ${mine.iface} interface remote-as ${internal ? 'internal' : 'external'}`);
    lines.push(` neighbor ${mine.iface} timers connect 1`);
    lines.push(` neighbor ${mine.iface} bfd ${multiplier} ${intervalMs} ${intervalMs}`);
  }
  for (const family of ['ipv4', 'ipv6'] as const) {
    lines.push(` address-family ${family} unicast`);
    lines.push('  maximum-paths 16');
    lines.push('  maximum-paths ibgp 16');
    for (const { mine, theirs } of ports) {
      if (family === 'ipv6') lines.push(`  neighbor ${mine.iface} activate`);
      if (toHosts && isHost(theirs.node)) {
        lines.push(`  neighbor ${mine.iface} route-reflector-client`);
        // The hosts cannot reach the spines' link-local next hops: the leaf is theirs.
        lines.push(`  neighbor ${mine.iface} next-hop-self force`);
      }
    }
    lines.push(' exit-address-family');
  }
  return `${lines.join('\n')}\n`;
}

/** bfdd's configuration (the sessions come from bgpd). */
export function fabricBfddConfig(): string {
  return 'bfd\n';
}
