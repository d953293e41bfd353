/**
 * The IPAM keys of Calico's etcdv3 backend (`libcalico-go/lib/backend/model`), under the prefixes
 * of src/datastore/keys.ts: a CIDR in a key has its `/` written as `-`.
 *
 *   <blocks>ipv4/block/10.0.0.0-26          the block (allocations)
 *   <hosts><node>/ipv4/block/10.0.0.0-26    the host's affinity to it
 *   <handles><id>                           which blocks a handle has addresses in
 */
import { IPAM_BLOCKS_PREFIX, IPAM_HANDLES_PREFIX, IPAM_HOSTS_PREFIX } from '../datastore/mod.ts';
import { type Cidr, type Family, formatCidr, parseCidr } from '../net/mod.ts';

const BLOCK_KEY = new RegExp(`^${IPAM_BLOCKS_PREFIX}ipv([46])/block/([^/]+)$`);
const AFFINITY_KEY = new RegExp(`^${IPAM_HOSTS_PREFIX}([^/]+)/ipv([46])/block/([^/]+)$`);
const HANDLE_KEY = new RegExp(`^${IPAM_HANDLES_PREFIX}([^/]+)$`);

function dashed(c: Cidr): string {
  return formatCidr(c).replace('/', '-');
}

function undash(text: string, family: string): Cidr | undefined {
  const c = parseCidr(text.replace(/-(\d+)$/, '/$1'));
  return c && String(c.family) === family ? c : undefined;
}

/** The prefix that lists the blocks of one family. */
export function blockPrefix(family: Family): string {
  return `${IPAM_BLOCKS_PREFIX}ipv${family}/block/`;
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
  return `${IPAM_HOSTS_PREFIX}${node}/ipv${family}/block/`;
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
  return `${IPAM_HANDLES_PREFIX}${handle}`;
}

/** The handle a key names; undefined when it is not a handle key. */
export function parseHandleKey(key: string): string | undefined {
  return HANDLE_KEY.exec(key)?.[1];
}
