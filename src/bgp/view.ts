/**
 * What the BGP room needs from the datastore, kept up to date from syncer events (pure, no I/O):
 * the BGP-relevant resources (BGPConfiguration, BGPPeer, BGPFilter, Node, IPPool) and every IPAM
 * block (`/calico/ipam/v2/assignment/...`: its CIDR, its host affinity, and which addresses of it
 * are used by workloads of another host). From it {@link BgpView.birdInput} builds the renderer's
 * input for one host.
 */
import type { Resource } from '../api/mod.ts';
import { IPAM_BLOCKS_PREFIX, parseResourceKey } from '../datastore/mod.ts';
import { type BlockRouting, blockRouting } from '../ipam/mod.ts';
import { parseBlockKey } from '../ipam/mod.ts';
import { cidrContainsCidr, parseCidrOrIp } from '../net/mod.ts';
import type { IPPoolSpec } from '../api/mod.ts';
import type { BirdConfigInput, BirdRenderOptions, SecretLookup } from './types.ts';

/** The resource kinds (plurals) the BGP room follows. */
export const BGP_RESOURCE_PLURALS = ['bgpconfigurations', 'bgppeers', 'bgpfilters', 'nodes', 'ippools'] as const;
export type BgpResourcePlural = (typeof BGP_RESOURCE_PLURALS)[number];


/** One IPAM block as the BGP room sees it. */
export type BlockInfo = BlockRouting;

/** Follows the BGP-relevant part of the datastore. */
export class BgpView {
  readonly #resources: Record<BgpResourcePlural, Map<string, Resource>> = {
    bgpconfigurations: new Map(),
    bgppeers: new Map(),
    bgpfilters: new Map(),
    nodes: new Map(),
    ippools: new Map(),
  };
  readonly #blocks = new Map<string, BlockInfo>();
  #generation = 0;

  /** Bumped by every change that matters; lets callers skip work when nothing changed. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Applies one datastore change (`value` undefined: deleted). Accepts raw JSON text or an
   * already parsed value. Returns true when the key is one the BGP room follows.
   */
  onUpdate(key: string, value: unknown): boolean {
    if (key.startsWith(IPAM_BLOCKS_PREFIX)) return this.#onBlock(key, value);
    const parsed = parseResourceKey(key);
    if (!parsed || !(BGP_RESOURCE_PLURALS as readonly string[]).includes(parsed.plural)) return false;
    const map = this.#resources[parsed.plural as BgpResourcePlural];
    const res = typeof value === 'string' ? safeJson(value) : value;
    if (res && typeof res === 'object' && (res as Resource).metadata && typeof (res as Resource).metadata.name === 'string') {
      map.set(parsed.name, res as Resource);
    } else {
      map.delete(parsed.name);
    }
    this.#generation++;
    return true;
  }

  #onBlock(key: string, value: unknown): boolean {
    if (!parseBlockKey(key)) return false;
    this.#generation++;
    const info = blockRouting(value);
    if (info === undefined) this.#blocks.delete(key);
    else this.#blocks.set(key, info);
    return true;
  }

  /** The resources of one kind, by name. */
  resources(plural: BgpResourcePlural): Resource[] {
    return [...this.#resources[plural].values()];
  }

  /** One Node. */
  node(name: string): Resource | undefined {
    return this.#resources.nodes.get(name);
  }

  /** Every known block. */
  blocks(): BlockInfo[] {
    return [...this.#blocks.values()];
  }

  /** CIDRs of the blocks affine to `node`, sorted. */
  affineBlocks(node: string): string[] {
    return this.blocks()
      .filter((b) => b.host === node)
      .map((b) => b.cidr)
      .sort();
  }

  /**
   * Addresses `node`'s workloads use in blocks affine to other hosts (or to none), inside an
   * enabled IP pool: what the host must announce as /32 or /128 besides its own blocks.
   */
  borrowedAddresses(node: string): string[] {
    const pools = this.resources('ippools')
      .map((p) => (p.spec ?? {}) as unknown as IPPoolSpec)
      .filter((s) => !s.disabled)
      .map((s) => parseCidrOrIp(s.cidr ?? ''))
      .filter((c) => c !== undefined);
    const out: string[] = [];
    for (const b of this.#blocks.values()) {
      for (const ip of b.borrowedBy.get(node) ?? []) {
        const addr = parseCidrOrIp(ip);
        if (addr && pools.some((p) => cidrContainsCidr(p, addr))) out.push(ip);
      }
    }
    return [...new Set(out)].sort();
  }

  /** The renderer's input for `nodeName`. */
  birdInput(nodeName: string, extra: { secrets?: SecretLookup; options?: BirdRenderOptions; linkNeighbors?: Record<string, string[]>; keptRouters?: Record<string, string[]>; recovery?: boolean } = {}): BirdConfigInput {
    return {
      nodeName,
      bgpConfigurations: this.resources('bgpconfigurations'),
      nodes: this.resources('nodes'),
      peers: this.resources('bgppeers'),
      filters: this.resources('bgpfilters'),
      pools: this.resources('ippools'),
      affineBlocks: this.affineBlocks(nodeName),
      borrowedAddresses: this.borrowedAddresses(nodeName),
      ...(extra.secrets ? { secrets: extra.secrets } : {}),
      ...(extra.options ? { options: extra.options } : {}),
      ...(extra.linkNeighbors ? { linkNeighbors: extra.linkNeighbors } : {}),
      ...(extra.keptRouters ? { keptRouters: extra.keptRouters } : {}),
      ...(extra.recovery ? { recovery: true } : {}),
    };
  }
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return undefined;
  }
}
