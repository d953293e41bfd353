/**
 * The BGP room: node registration and IP autodetection, the pure BIRD configuration renderer,
 * BIRD's lifecycle and status, the VXLAN tunnel addresses, and {@link BgpController}, the one
 * entry the node process (src/agent/node.ts) drives.
 * See docs/bgp.md.
 */
export { BgpController, secretsFromDirectory } from './controller.ts';
export type { AppliedInfo, BgpControllerOptions, BgpControllerState } from './controller.ts';
export { BGP_RESOURCE_PLURALS, BgpView } from './view.ts';
export type { BlockInfo } from './view.ts';
export { renderBirdConfig, DEFAULT_VXLAN_INTERFACES } from './bird-config.ts';
export { filterFunctionName, renderFilterFunction } from './bird-filters.ts';
export type { FilterList } from './bird-filters.ts';
export { BirdConfigError, BirdController } from './bird-process.ts';
export type { ApplyOutcome, BirdControllerOptions, BirdEvent } from './bird-process.ts';
export { BirdCommandError, BirdConnection, birdCommand } from './bird-client.ts';
export type { BirdCommandOptions, BirdReply } from './bird-client.ts';
export { addressFromProtocolName, bgpPeers, parseBfdSessions, parseProtocols } from './bird-status.ts';
export type { BfdSessionStatus, BgpPeerStatus, BirdProtocol, PeerTypeLabel } from './bird-status.ts';
export { readNodeStatus } from './node-status.ts';
export type { NodeStatus } from './node-status.ts';
export {
  autodetectAddress,
  DEFAULT_INTERFACES_TO_EXCLUDE,
  filteredEnumeration,
  ipCommandSources,
  isGlobalUnicast,
  parseAutodetectionMethod,
  parseIpAddrJson,
} from './autodetect.ts';
export type { AutodetectionMethod, AutodetectSources, DetectedAddress, InterfaceInfo } from './autodetect.ts';
export { desiredNode, ensureDefaultPools, randomUlaPrefix, registerNode } from './node-registration.ts';
export { ensureVxlanTunnelAddress, vxlanMacFor, vxlanTunnelHandle } from './tunnel-address.ts';
export type { TunnelAddressChange } from './tunnel-address.ts';
export type { DefaultPoolOptions, NodeRegistration, NodeRegistrationOptions } from './node-registration.ts';
export {
  BFD_ANNOTATION,
  BFD_INTERVAL_ANNOTATION,
  BFD_MULTIPLIER_ANNOTATION,
  DEFAULT_BFD,
  PEER_DISCOVERY_ANNOTATION,
  PEER_INTERFACE_ANNOTATION,
} from './extensions.ts';
export type { BfdMode, PeerDiscovery } from './extensions.ts';
export { DEFAULT_AS_NUMBER } from './peers.ts';
export type * from './types.ts';

// Re-exported for the other folders of src/ (they enter this folder only through this file).
export { defaultPoolsFromEnv, registrationFromEnv } from './env.ts';
