/**
 * `lab up --route-reflectors N`: the first N hosts are BGP route reflectors (one cluster id), the
 * node-to-node mesh is off, and every host peers with the reflectors through one BGPPeer
 * (`nodeSelector: all()`, `peerSelector: route-reflector == 'true'`), Calico's own recipe for
 * clusters too large for a full mesh. The Nodes are written before the agents start; their
 * registration keeps the cluster id and label and fills in the addresses.
 */
import type { LabPlan } from './plan.ts';

/** The reflectors' cluster id. */
export const LAB_RR_CLUSTER_ID = '224.0.0.1';

/** The route-reflector resources of a lab (plain documents, validated by the caller). */
export function routeReflectorResources(plan: LabPlan): unknown[] {
  const count = plan.options.routeReflectors ?? 0;
  if (count === 0) return [];
  return [
    ...plan.hosts.slice(0, count).map((h) => ({
      kind: 'Node',
      metadata: { name: h.name, labels: { 'route-reflector': 'true' } },
      spec: { bgp: { routeReflectorClusterID: LAB_RR_CLUSTER_ID } },
    })),
    { kind: 'BGPPeer', metadata: { name: 'peer-with-route-reflectors' }, spec: { nodeSelector: 'all()', peerSelector: "route-reflector == 'true'" } },
  ];
}
