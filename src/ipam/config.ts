/**
 * IPAM settings. Two places hold them, as in Calico on etcd:
 *   - `/calico/ipam/v2/config`, the IPAM library's own record
 *     (`{"strict_affinity":false,"auto_allocate_blocks":true,"maxBlocksPerHost":0}`), which
 *     `margay ipam configure` writes;
 *   - the v3 `IPAMConfiguration` resource named `default` (`margay apply`), which also carries
 *     `ipCooldownSeconds`.
 * The effective settings start from the defaults, take the v2 record, then every field the v3
 * resource sets (the resource wins where both say something).
 */

/** The settings IPAM runs with. */
export interface IpamConfig {
  /** Never borrow an address from another host's block. */
  strictAffinity: boolean;
  /** May claim new blocks (false: only allocate from blocks the host already has). */
  autoAllocateBlocks: boolean;
  /** Most blocks one host may claim per family; 0 means the built-in limit, 20. */
  maxBlocksPerHost: number;
  /** How long a released address stays unusable before it can be handed out again. */
  ipCooldownSeconds: number;
}

/** Calico's built-in block limit per host when `maxBlocksPerHost` is 0. */
export const DEFAULT_MAX_BLOCKS_PER_HOST = 20;

/** Calico's defaults. */
export const DEFAULT_IPAM_CONFIG: Readonly<IpamConfig> = {
  strictAffinity: false,
  autoAllocateBlocks: true,
  maxBlocksPerHost: 0,
  ipCooldownSeconds: 0,
};

/** Reads the v2 record (`/calico/ipam/v2/config`); unknown or malformed fields are ignored. */
export function decodeConfigRecord(text: string): Partial<IpamConfig> {
  const raw = JSON.parse(text) as Record<string, unknown>;
  const out: Partial<IpamConfig> = {};
  if (typeof raw.strict_affinity === 'boolean') out.strictAffinity = raw.strict_affinity;
  // Go omits false booleans (omitempty); Calico always writes true here, so absent means true.
  out.autoAllocateBlocks = raw.auto_allocate_blocks !== false;
  if (typeof raw.maxBlocksPerHost === 'number') out.maxBlocksPerHost = raw.maxBlocksPerHost;
  return out;
}

/** Encodes the v2 record, every field written out. */
export function encodeConfigRecord(config: IpamConfig): string {
  return JSON.stringify({
    strict_affinity: config.strictAffinity,
    auto_allocate_blocks: config.autoAllocateBlocks,
    maxBlocksPerHost: config.maxBlocksPerHost,
  });
}

/** The fields a v3 IPAMConfiguration spec sets. */
export function configFromResourceSpec(spec: Record<string, unknown> | undefined): Partial<IpamConfig> {
  const out: Partial<IpamConfig> = {};
  if (!spec) return out;
  if (typeof spec.strictAffinity === 'boolean') out.strictAffinity = spec.strictAffinity;
  if (typeof spec.autoAllocateBlocks === 'boolean') out.autoAllocateBlocks = spec.autoAllocateBlocks;
  if (typeof spec.maxBlocksPerHost === 'number') out.maxBlocksPerHost = spec.maxBlocksPerHost;
  if (typeof spec.ipCooldownSeconds === 'number') out.ipCooldownSeconds = spec.ipCooldownSeconds;
  return out;
}

/** Defaults, then the v2 record, then the v3 resource. */
export function effectiveConfig(record: Partial<IpamConfig> | undefined, resource: Partial<IpamConfig> | undefined): IpamConfig {
  return { ...DEFAULT_IPAM_CONFIG, ...(record ?? {}), ...(resource ?? {}) };
}

/** The block limit a host is held to: the request's, else the configuration's, else 20. */
export function blockLimit(config: IpamConfig, requested?: number): number {
  if (requested !== undefined && requested > 0) {
    return config.maxBlocksPerHost > 0 ? Math.min(requested, config.maxBlocksPerHost) : requested;
  }
  return config.maxBlocksPerHost > 0 ? config.maxBlocksPerHost : DEFAULT_MAX_BLOCKS_PER_HOST;
}
