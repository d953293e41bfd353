import type { KindDefinition } from '../kind.ts';
import { bgpConfigurationKind } from './bgp-configuration.ts';
import { bgpFilterKind } from './bgp-filter.ts';
import { bgpPeerKind } from './bgp-peer.ts';
import { calicoNodeStatusKind } from './calico-node-status.ts';
import { clusterInformationKind } from './cluster-information.ts';
import { felixConfigurationKind } from './felix-configuration.ts';
import { ipPoolKind } from './ip-pool.ts';
import { ipReservationKind } from './ip-reservation.ts';
import { ipamConfigurationKind } from './ipam-configuration.ts';
import { kubeControllersConfigurationKind } from './kube-controllers-configuration.ts';
import { nodeKind } from './node.ts';

/** Infrastructure kinds: IPAM, BGP, configuration, nodes. */
export const infraKinds: KindDefinition[] = [
  ipPoolKind,
  ipReservationKind,
  ipamConfigurationKind,
  bgpConfigurationKind,
  bgpPeerKind,
  bgpFilterKind,
  felixConfigurationKind,
  nodeKind,
  calicoNodeStatusKind,
  clusterInformationKind,
  kubeControllersConfigurationKind,
];
