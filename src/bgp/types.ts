/**
 * Typed views of the BGP-related resource specs as they are stored (after validation and
 * defaults), and the input and output of the BIRD configuration renderer.
 */
import type { Resource } from '../api/mod.ts';

/** A `{secretKeyRef: {name, key}}` reference (Kubernetes `SecretKeySelector`). */
export interface SecretKeyRef {
  name?: string;
  key: string;
  optional?: boolean;
}

/** A BGP password as written in BGPConfiguration and BGPPeer. */
export interface BgpPassword {
  secretKeyRef?: SecretKeyRef;
}

/** `BGPConfiguration.spec` (the fields the renderer reads). */
export interface BGPConfigurationSpec {
  logSeverityScreen?: string;
  nodeToNodeMeshEnabled?: boolean;
  asNumber?: number | string;
  serviceLoadBalancerIPs?: { cidr?: string }[];
  serviceExternalIPs?: { cidr?: string }[];
  serviceClusterIPs?: { cidr?: string }[];
  communities?: { name?: string; value?: string }[];
  prefixAdvertisements?: { cidr?: string; communities?: string[] }[];
  listenPort?: number;
  nodeMeshPassword?: BgpPassword;
  nodeMeshMaxRestartTime?: string;
  bindMode?: 'None' | 'NodeIP';
  ignoredInterfaces?: string[];
  programClusterRoutes?: 'Disabled' | 'Enabled' | 'EnabledIPIPOnly' | 'EnabledNoEncapOnly';
  ipv4NormalRoutePriority?: number;
  ipv6NormalRoutePriority?: number;
}

/** `BGPPeer.spec`. */
export interface BGPPeerSpec {
  node?: string;
  peerIP?: string;
  asNumber?: number | string;
  localASNumber?: number | string;
  nodeSelector?: string;
  peerSelector?: string;
  localWorkloadSelector?: string;
  keepOriginalNextHop?: boolean;
  nextHopMode?: 'Auto' | 'Self' | 'Keep';
  password?: BgpPassword;
  sourceAddress?: 'UseNodeIP' | 'None';
  failureDetectionMode?: 'None' | 'BFDIfDirectlyConnected';
  restartMode?: 'GracefulRestart' | 'LongLivedGracefulRestart';
  maxRestartTime?: string;
  birdGatewayMode?: 'Recursive' | 'DirectIfDirectlyConnected';
  keepaliveTime?: string;
  numAllowedLocalASNumbers?: number;
  ttlSecurity?: number;
  filters?: string[];
  reachableBy?: string;
  reversePeering?: 'Auto' | 'Manual';
}

/** One rule of a BGPFilter. */
export interface BGPFilterRule {
  cidr?: string;
  prefixLength?: { min?: number; max?: number };
  source?: 'RemotePeers';
  interface?: string;
  matchOperator?: 'Equal' | 'NotEqual' | 'In' | 'NotIn';
  peerType?: 'eBGP' | 'iBGP';
  communities?: { values: string[] };
  asPathPrefix?: (number | string)[];
  priority?: number;
  action: 'Accept' | 'Reject';
  operations?: {
    addCommunity?: { value: string };
    prependASPath?: { prefix: (number | string)[] };
    setPriority?: { value: number };
  }[];
}

/** `BGPFilter.spec`. */
export interface BGPFilterSpec {
  exportV4?: BGPFilterRule[];
  importV4?: BGPFilterRule[];
  exportV6?: BGPFilterRule[];
  importV6?: BGPFilterRule[];
}

/** `Node.spec` (the fields BGP and VXLAN read). */
export interface NodeSpec {
  bgp?: {
    asNumber?: number | string;
    ipv4Address?: string;
    ipv6Address?: string;
    ipv4IPIPTunnelAddr?: string;
    routeReflectorClusterID?: string;
  };
  ipv4VXLANTunnelAddr?: string;
  vxlanTunnelMACAddr?: string;
  ipv6VXLANTunnelAddr?: string;
  vxlanTunnelMACAddrV6?: string;
}

/** Resolves a BGP password secret; undefined when the secret or key does not exist. */
export type SecretLookup = (ref: SecretKeyRef) => string | undefined;

/** Where BIRD writes its log. */
export type BirdLogTarget = 'stderr' | 'syslog' | { file: string };

/** Options of {@link BirdConfigInput} that are not resources. */
export interface BirdRenderOptions {
  /** Log destination (default `stderr`: the supervisor captures it). */
  log?: BirdLogTarget;
  /**
   * The BGP router id: an IPv4 address, or `hash` for one derived from the node name (what
   * Calico's `CALICO_ROUTER_ID=hash` does). Default: the node's IPv4 address, else `hash`.
   */
  routerId?: string;
  /** Workload interface prefixes excluded from `protocol direct` (default: the interfacePrefix parameter's). */
  workloadInterfacePrefixes?: string[];
  /** Interfaces the agent programs VXLAN routes through (never re-announced to iBGP peers). */
  vxlanInterfaces?: string[];
  /** Default BFD timing when an annotation enables BFD without giving it. */
  bfdDefaults?: { intervalMs: number; multiplier: number };
  /**
   * BGP connection timers (seconds): how long BIRD waits before the first connect, between
   * retries, and the error back-off range. Default 1, 3 and 5..60, as Calico renders them.
   */
  connectTimers?: { connectDelay: number; connectRetry: number; errorWaitMin: number; errorWaitMax: number };
  /**
   * How long (seconds) BIRD started with `-R` (graceful-restart recovery) waits for its peers
   * before it programs the kernel anyway (`graceful restart wait`). Default 60.
   */
  gracefulRestartWait?: number;
}

/**
 * Everything the BIRD configuration of one host depends on: a snapshot of the datastore (as the
 * agent's syncer holds it), this host's IPAM view, and the secrets the peers refer to.
 * Resources are passed as stored (validated, defaults applied).
 */
export interface BirdConfigInput {
  /** This host's Node name. */
  nodeName: string;
  /** BGPConfiguration resources: `default`, `node.<name>` for this and other nodes (listen ports). */
  bgpConfigurations: Resource[];
  /** Every Node (this one included). */
  nodes: Resource[];
  /** Every BGPPeer. */
  peers: Resource[];
  /** Every BGPFilter. */
  filters: Resource[];
  /** Every IPPool. */
  pools: Resource[];
  /** CIDRs of the IPAM blocks affine to this host (IPv4 and IPv6). */
  affineBlocks: string[];
  /** Addresses of local workloads that live in blocks affine to other hosts (`/32`, `/128` or bare). */
  borrowedAddresses?: string[];
  /**
   * Link-local routers seen on this host's interfaces (interface → `fe80::…` addresses), for
   * unnumbered peers with `margay.io/peer-discovery: neighbors` (see link-neighbors.ts).
   */
  linkNeighbors?: Record<string, string[]>;
  /**
   * Interface → link-local routers a *waiting* unnumbered uplink also connects to: the routers
   * found when BIRD last restarted with graceful restart (see gr-recovery.ts). Their active
   * sessions were there before the waiting one, so they never meet its lock problem (peers.ts).
   */
  keptRouters?: Record<string, string[]>;
  /**
   * BIRD starts with `-R` (graceful-restart recovery): no waiting (dynamic) sessions. BIRD 2.0.12
   * locks the recovery on every BGP channel started then, and a dynamic template's channels never
   * come up, so only `graceful restart wait` would end it (gr-recovery.ts).
   */
  recovery?: boolean;
  /** Resolves `password.secretKeyRef`; without it, peers that need a password are skipped. */
  secrets?: SecretLookup;
  options?: BirdRenderOptions;
}

/** How a BGP session came about, as `margay node status` (and calicoctl) calls it. */
export type PeerKind = 'mesh' | 'global' | 'node' | 'unnumbered';

/** One BGP session the renderer wrote (or skipped), for status and tests. */
export interface PeerPlan {
  /** The BIRD protocol name (`Mesh_192_0_2_12`, `Global_10_0_0_1_port_1179`, `Iface_eth0`). */
  protocol: string;
  kind: PeerKind;
  family: 4 | 6;
  /** The peer address (`fe80::/10` range for an unnumbered peer). */
  address: string;
  port?: number;
  /** Interface for link-local / unnumbered peers. */
  interface?: string;
  /** Remote AS (`external` when any other AS is accepted). */
  remoteAs: number | 'external';
  localAs: number;
  /** True when this side only waits for the peer to connect. */
  passive: boolean;
  /** BFD mode on this session. */
  bfd: 'off' | 'on' | 'graceful';
  /** The resource it came from (`BGPPeer/<name>`, `BGPConfiguration/default` for the mesh). */
  source: string;
  /** This node acts as a route reflector for this peer. */
  rrClient: boolean;
}

/** What the renderer produced. */
export interface BirdConfigResult {
  /** The whole `bird.conf` (IPv4 and IPv6). */
  text: string;
  /** The sessions it contains. */
  peers: PeerPlan[];
  /** Things that were left out, each with the reason (missing secret, unknown filter…). */
  warnings: string[];
}
