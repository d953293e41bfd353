/**
 * The IPAM key layout of Calico's etcdv3 backend (`libcalico-go/lib/backend/model`): a CIDR in a
 * key has its `/` written as `-`.
 *
 *   /calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26      the block (allocations)
 *   /calico/ipam/v2/host/<node>/ipv4/block/10.0.0.0-26     the host's affinity to it
 *   /calico/ipam/v2/handle/<id>                            which blocks a handle has addresses in
 *   /calico/ipam/v2/config                                 strictAffinity, maxBlocksPerHost …
 */
import { type Cidr, type Family, formatCidr, parseCidr } from '../net/mod.ts';

/** Everything IPAM stores lives under this prefix (one consistent list reads it all). */
export const IPAM_PREFIX = '/calico/ipam/v2/';
/** Blocks of both families. */
export const BLOCKS_PREFIX = '/calico/ipam/v2/assignment/';
/** Affinities of every host. */
export const HOSTS_PREFIX = '/calico/ipam/v2/host/';
/** Handles. */
export const HANDLES_PREFIX = '/calico/ipam/v2/handle/';
/** The IPAM configuration singleton. */
export const IPAM_CONFIG_KEY = '/calico/ipam/v2/config';

const BLOCK_KEY = /^\/calico\/ipam\/v2\/assignment\/ipv([46])\/block\/([^/]+)$/;
const AFFINITY_KEY = /^\/calico\/ipam\/v2\/host\/([^/]+)\/ipv([46])\/block\/([^/]+)$/;
const HANDLE_KEY = /^\/calico\/ipam\/v2\/handle\/([^/]+)$/;

function dashed(c: Cidr): string {
  return formatCidr(c).replace('/', '-');
}

function undash(text: string, family: string): Cidr | undefined {
  const c = parseCidr(text.replace(/-(\d+)$/, '/$1'));
  return c && String(c.family) === family ? c : undefined;
}

/** The prefix that lists the blocks of one family. */
export function blockPrefix(family: Family): string {
  return `${BLOCKS_PREFIX}ipv${family}/block/`;
}

/** The key of a block. */
export function blockKey(cidr: Cidr): string {
  return `${blockPrefix(cidr.family)}${dashed(cidr)}`;
}

/** The block CIDR a key names; undefined when it is not a block key. */
export function parseBlockKey(key: string): Cidr | undefined {
  const m = BLOCK_KEY.exec(key);
  return m ? undash(m[2]!, m[1]!) : undefined;
}

/** The prefix that lists a host's affinities of one family. */
export function hostAffinityPrefix(node: string, family: Family): string {
  return `${HOSTS_PREFIX}${node}/ipv${family}/block/`;
}

/** The key of a host's affinity to a block. */
export function affinityKey(node: string, cidr: Cidr): string {
  return `${hostAffinityPrefix(node, cidr.family)}${dashed(cidr)}`;
}

/** The host and block an affinity key names; undefined when it is not an affinity key. */
export function parseAffinityKey(key: string): { node: string; cidr: Cidr } | undefined {
  const m = AFFINITY_KEY.exec(key);
  const cidr = m ? undash(m[3]!, m[2]!) : undefined;
  return m && cidr ? { node: m[1]!, cidr } : undefined;
}

/** The key of a handle. */
export function handleKey(handle: string): string {
  return `${HANDLES_PREFIX}${handle}`;
}

/** The handle a key names; undefined when it is not a handle key. */
export function parseHandleKey(key: string): string | undefined {
  return HANDLE_KEY.exec(key)?.[1];
}
