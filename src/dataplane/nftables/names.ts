/**
 * Names of the objects in table `inet margay`. Every name is an nftables identifier
 * (`[A-Za-z_.][A-Za-z0-9/_.-]*`, at most 255 characters) and the mapping from model keys to names is
 * injective: a readable name is used when the key is made of safe characters and is short enough,
 * otherwise a hash; readable names put `-` after their kind prefix and hashed or special names put
 * `_`, so the two forms never collide. See docs/dataplane.md for the whole layout.
 */
import { hash } from 'node:crypto';
import { ClearingMemo } from '../../memo/mod.ts';
import type { Family } from '../../net/mod.ts';

/** The longest readable part kept before falling back to a hash (nft allows 255 in total). */
const MAX_READABLE = 200;

/** The two lowercase hex digits of each byte, by byte (character codes). */
const HEX_DIGITS = new Uint8Array(512);
for (let b = 0; b < 256; b++) {
  const text = b.toString(16).padStart(2, '0');
  HEX_DIGITS[2 * b] = text.charCodeAt(0);
  HEX_DIGITS[2 * b + 1] = text.charCodeAt(1);
}

/** 16 hex characters of SHA-256: enough to name objects and to fingerprint rules. */
export function shortHash(text: string): string {
  // crypto.hash, not createHash: a cold start fingerprints ~60,000 rules, and a Hash object
  // each cost 2–7× the time, and garbage (docs/dataplane.md). The digest's first 8 bytes
  // written as one flat 16-character string: the hex digest's `slice(0, 16)` kept a slice
  // object and the whole 64-character digest alive for every rule (~80 bytes, one object more,
  // copied by the garbage collector with the desired state), for the same CPU.
  const d = hash('sha256', text, 'binary');
  const b0 = d.charCodeAt(0) << 1;
  const b1 = d.charCodeAt(1) << 1;
  const b2 = d.charCodeAt(2) << 1;
  const b3 = d.charCodeAt(3) << 1;
  const b4 = d.charCodeAt(4) << 1;
  const b5 = d.charCodeAt(5) << 1;
  const b6 = d.charCodeAt(6) << 1;
  const b7 = d.charCodeAt(7) << 1;
  const h = HEX_DIGITS;
  return String.fromCharCode(
    h[b0] as number, h[b0 + 1] as number, h[b1] as number, h[b1 + 1] as number,
    h[b2] as number, h[b2 + 1] as number, h[b3] as number, h[b3 + 1] as number,
    h[b4] as number, h[b4 + 1] as number, h[b5] as number, h[b5 + 1] as number,
    h[b6] as number, h[b6 + 1] as number, h[b7] as number, h[b7 + 1] as number,
  );
}

const SAFE_IFACE = /^[A-Za-z0-9_-]+$/;
const SAFE_KEY = /^[A-Za-z0-9][A-Za-z0-9/._-]*$/;
const SAFE_SET_ID = /^[A-Za-z0-9_:-]+$/;

function named(prefix: string, readable: string | undefined, raw: string): string {
  return readable !== undefined && readable.length <= MAX_READABLE ? `${prefix}-${readable}` : `${prefix}_${shortHash(raw)}`;
}

/** Per-interface chain kinds: workload to/from, host to/from, forward, untracked (raw), preDNAT. */
export type InterfaceChainKind = 'fw' | 'tw' | 'fh' | 'th' | 'fhfw' | 'thfw' | 'fhu' | 'thu' | 'fhpd';

/** The chain of one endpoint interface; `*` (the all-interfaces host endpoint) gets `<kind>_any`. */
export function interfaceChain(kind: InterfaceChainKind, ifaceName: string): string {
  if (ifaceName === '*') return `${kind}_any`;
  return named(kind, SAFE_IFACE.test(ifaceName) ? ifaceName : undefined, ifaceName);
}

/**
 * The chain shared by every workload with the same policy list in one direction (`fwp_<hash>`:
 * from the workloads, their egress; `twp_<hash>`: to them, ingress). `listKey` identifies the
 * list (tiers with their policies, profiles), so a new workload with a list in use costs a map
 * element, not a chain.
 */
export function policyListChain(kind: 'fw' | 'tw', listKey: string): string {
  return `${kind}p_${shortHash(listKey)}`;
}

/**
 * Policy chain names by policy key, per direction: every policy list and the reference counts
 * name the same chains again and again (a cold start: ~20,000 times), and one string for each
 * keeps its hash for the maps and sets it goes in, where a new concatenation each time was
 * flattened and hashed again. Bounded: cleared when full.
 */
const INGRESS_CHAINS = new ClearingMemo<string, string>(32_768);
const EGRESS_CHAINS = new ClearingMemo<string, string>(32_768);

/** The chain of one direction of a policy or profile (`pi-gnp/allow-dns`, `po-pro/kns.shop`). */
export function policyChain(direction: 'ingress' | 'egress', key: string): string {
  const memo = direction === 'ingress' ? INGRESS_CHAINS : EGRESS_CHAINS;
  let name = memo.get(key);
  if (name === undefined) {
    name = named(direction === 'ingress' ? 'pi' : 'po', SAFE_KEY.test(key) ? key : undefined, key);
    memo.set(key, name);
  }
  return name;
}

/** The kind of a named set built from an IP set id: addresses/CIDRs, or address·protocol·port. */
export type SetKind = 'net' | 'ip-port';

/**
 * The named set holding one family of an IP set: `v4-s.<id>` (single addresses, a plain hash set),
 * `v4n-s.<id>` (with CIDRs, an interval set) or `v4p-n.<id>` (address·protocol·port).
 */
export function ipSetName(kind: SetKind, family: Family, id: string, interval = false): string {
  const prefix = `v${family}${kind === 'ip-port' ? 'p' : interval ? 'n' : ''}`;
  let memo = SET_NAMES.get(prefix);
  if (memo === undefined) SET_NAMES.set(prefix, (memo = new ClearingMemo<string, string>(16_384)));
  let name = memo.get(id);
  if (name === undefined) {
    name = named(prefix, SAFE_SET_ID.test(id) ? id.replace(/:/g, '.') : undefined, id);
    memo.set(id, name);
  }
  return name;
}

/**
 * Set names by IP set id, per prefix (`v4`, `v6n`, `v4p`, …): every rule that matches on a set
 * names it again (a cold start: ~20,000 times), and one string for each keeps its hash for the
 * condition texts made of it (render-rules.ts). Bounded: cleared when full.
 */
const SET_NAMES = new Map<string, ClearingMemo<string, string>>();

/** The nft type of a named set of this kind and family. */
export function setType(kind: SetKind, family: Family): string {
  const addr = family === 4 ? 'ipv4_addr' : 'ipv6_addr';
  return kind === 'net' ? addr : `${addr} . inet_proto . inet_service`;
}

/**
 * The flags of a named set. Only sets that hold CIDRs are interval sets: before any element
 * command, nft 1.0.6 reads the elements of every interval set in the table (1.1 s with 5,000 of
 * them), while plain sets cost nothing there.
 */
export function setFlags(kind: SetKind, interval = false): string[] {
  return kind === 'net' && interval ? ['interval'] : [];
}

/** Base chains (attached to hooks). */
export const BaseChains = {
  rawPrerouting: 'raw-prerouting',
  rawOutput: 'raw-output',
  manglePrerouting: 'mangle-prerouting',
  filterInput: 'filter-input',
  filterForward: 'filter-forward',
  filterOutput: 'filter-output',
  natPostrouting: 'nat-postrouting',
  natPrerouting: 'nat-prerouting',
  natFloatingIpPrerouting: 'nat-fip-prerouting',
  natFloatingIpOutput: 'nat-fip-output',
  natFloatingIpPostrouting: 'nat-fip-postrouting',
} as const;

/** Fixed regular chains. */
export const StaticChains = {
  fromWorkloadDispatch: 'from-wl-dispatch',
  toWorkloadDispatch: 'to-wl-dispatch',
  workloadToHost: 'wl-to-host',
  floatingIpDnat: 'fip-dnat',
  floatingIpSnat: 'fip-snat',
  fromHostDispatch: 'from-hep-dispatch',
  toHostDispatch: 'to-hep-dispatch',
  fromHostForwardDispatch: 'from-hep-fwd-dispatch',
  toHostForwardDispatch: 'to-hep-fwd-dispatch',
  fromHostRawDispatch: 'from-hep-raw-dispatch',
  toHostRawDispatch: 'to-hep-raw-dispatch',
  fromHostPreDnatDispatch: 'from-hep-prednat-dispatch',
  failsafeIn: 'failsafe-in',
  failsafeOut: 'failsafe-out',
  failsafeInRaw: 'failsafe-in-raw',
  failsafeOutRaw: 'failsafe-out-raw',
  natOutgoing: 'nat-outgoing',
} as const;

/** Interface-name verdict maps used by the dispatch chains. */
export const DispatchMaps = {
  fromWorkload: 'from-wl',
  toWorkload: 'to-wl',
  fromHost: 'from-hep',
  toHost: 'to-hep',
  fromHostForward: 'from-hep-fwd',
  toHostForward: 'to-hep-fwd',
  fromHostRaw: 'from-hep-raw',
  toHostRaw: 'to-hep-raw',
  fromHostPreDnat: 'from-hep-prednat',
} as const;

/**
 * The sets of (workload interface, allowed source net) pairs, per family: the anti-spoofing check
 * of every packet from a workload is one lookup in them (interval sets, because
 * `allowSpoofedSourcePrefixes` are nets).
 */
export function workloadSourceSet(family: Family): string {
  return `wl-src-v${family}`;
}

/** The nft type of {@link workloadSourceSet}. */
export function workloadSourceSetType(family: Family): string {
  return `ifname . ${family === 4 ? 'ipv4_addr' : 'ipv6_addr'}`;
}

/** Named sets of the NAT-outgoing rules, per family. */
export function natSetName(which: 'nat-pools' | 'all-pools', family: Family): string {
  return `${which}-v${family}`;
}

/**
 * True for the chains and sets of policies and policy lists (`pi-…`, `po-…`, `fwp_…`, `twp_…` and
 * their dispatch chains; `v4-…`, `v6n-…`, `v4p-…` sets). Unused ones are harmless in the kernel
 * (nothing reachable refers to them), so their deletion may wait for a later transaction
 * (driver.ts, "deferred deletions"); every other object is deleted when it is dropped.
 */
export function isPolicyObject(kind: 'chain' | 'set', name: string): boolean {
  return kind === 'chain' ? /^(fwp_|twp_|pi[-_]|po[-_])/.test(name) : /^v[46][np]?[-_]/.test(name);
}
