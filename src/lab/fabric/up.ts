/**
 * What a leaf–spine lab adds to the cluster's configuration and to each agent: the node-to-node
 * mesh off, one BGPPeer per rack that selects the rack's Nodes by label and peers unnumbered over
 * every uplink (`margay.io/peer-interface`, BFD on), and each Node's rack label, AS number and
 * loopback addresses, written before the agents start (their registration keeps them).
 */
import { PEER_DISCOVERY_ANNOTATION, PEER_INTERFACE_ANNOTATION, BFD_ANNOTATION, BFD_INTERVAL_ANNOTATION, BFD_MULTIPLIER_ANNOTATION } from '../../bgp/mod.ts';
import { type FabricHost, type FabricPlan, RACK_LABEL } from './plan.ts';

/** The rack label value of rack `r`. */
function rackName(r: number): string {
  return `r${r}`;
}

/** The BGP resources of the fabric (as plain documents, validated by the caller). */
export function fabricResources(plan: FabricPlan): unknown[] {
  const docs: unknown[] = [];
  const uplinks = plan.hosts[0]!.uplinks.join(',');
  for (let r = 1; r <= plan.options.racks; r++) {
    docs.push({
      kind: 'BGPPeer',
      metadata: {
        name: `rack-${r}`,
        annotations: {
          [PEER_INTERFACE_ANNOTATION]: uplinks,
          [BFD_ANNOTATION]: 'true',
          [BFD_INTERVAL_ANNOTATION]: String(plan.bfd.intervalMs),
          [BFD_MULTIPLIER_ANNOTATION]: String(plan.bfd.multiplier),
          ...(plan.options.discovery ? { [PEER_DISCOVERY_ANNOTATION]: 'neighbors' } : {}),
        },
      },
      spec: {
        nodeSelector: `${RACK_LABEL} == '${rackName(r)}'`,
        // AS per rack: the leaves are in the hosts' AS (iBGP); AS per host: any AS (eBGP).
        ...(plan.options.asModel === 'rack' ? { asNumber: 65000 + r } : {}),
      },
    });
  }
  for (const h of plan.hosts) docs.push(fabricNode(h));
  return docs;
}

/** A host's Node as the fabric wants it: rack label, AS, loopback addresses. */
function fabricNode(host: FabricHost): unknown {
  return {
    kind: 'Node',
    metadata: { name: host.name, labels: { [RACK_LABEL]: rackName(host.rack) } },
    spec: { bgp: { ipv4Address: host.loopback, ...(host.loopback6 ? { ipv6Address: host.loopback6 } : {}), asNumber: host.asNumber } },
  };
}

/** The environment of a fabric host's agent: its addresses are its loopback's, never autodetected on an uplink. */
export function fabricAgentEnv(plan: FabricPlan, hostName: string): Record<string, string> {
  const host = plan.hosts.find((h) => h.name === hostName);
  if (!host) return {};
  return { IP: host.loopback, ...(host.loopback6 ? { IP6: host.loopback6 } : {}), AS: String(host.asNumber) };
}
