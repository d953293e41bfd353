/**
 * BGPFilter → BIRD functions (pure). Each filter with rules for a direction and family becomes
 * one function `'margay_filter_<name>_<importV4|exportV4|importV6|exportV6>'(bool internal_peer)`.
 * Rules run in order; the first that matches accepts or rejects the route (after its
 * operations). A route no rule matches falls through to the next filter of the peer, and then
 * to Margay's default (import: accept; export: the host's own routes only).
 */
import { createHash } from 'node:crypto';
import type { Resource } from '../api/mod.ts';
import { formatCidr, parseCidrOrIp } from '../net/mod.ts';
import type { BGPFilterRule, BGPFilterSpec } from './types.ts';

/** A direction and family of BGPFilter rules. */
export type FilterList = 'importV4' | 'exportV4' | 'importV6' | 'exportV6';

/** BIRD symbols are at most 64 characters. */
const MAX_SYMBOL = 64;

/** The BIRD function name (quoted) for a filter's list; stable and at most 64 characters. */
export function filterFunctionName(filterName: string, list: FilterList): string {
  const prefix = 'margay_filter_';
  const suffix = `_${list}`;
  let name = filterName;
  if (prefix.length + name.length + suffix.length > MAX_SYMBOL) {
    const hash = createHash('sha256').update(filterName).digest('hex').slice(0, 8);
    name = `${filterName.slice(0, MAX_SYMBOL - prefix.length - suffix.length - 9)}_${hash}`;
  }
  return `'${prefix}${name}${suffix}'`;
}

/** `aa:nn` or `aa:nn:mm` as a BIRD pair or triple literal. */
function communityLiteral(value: string): { literal: string; large: boolean } | undefined {
  const parts = value.split(':');
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => !/^\d+$/.test(p))) return undefined;
  return { literal: `(${parts.join(', ')})`, large: parts.length === 3 };
}

/** The BIRD statement that adds a community to a route. */
export function addCommunityStatement(value: string): string | undefined {
  const c = communityLiteral(value);
  if (!c) return undefined;
  return c.large ? `bgp_large_community.add(${c.literal});` : `bgp_community.add(${c.literal});`;
}

function asNumberText(v: number | string): string {
  if (typeof v === 'number') return String(v);
  const dotted = /^(\d+)\.(\d+)$/.exec(v);
  return dotted ? String(Number(dotted[1]) * 65536 + Number(dotted[2])) : v;
}

/** Renders the condition of one rule; an empty list means "always". */
function ruleConditions(rule: BGPFilterRule, family: 4 | 6, warnings: string[], where: string): string[] {
  const conds: string[] = [];
  if (rule.cidr && rule.matchOperator) {
    const net = parseCidrOrIp(rule.cidr);
    if (!net || net.family !== family) {
      warnings.push(`${where}: cidr ${rule.cidr} is not an IPv${family} network; rule skipped`);
      return ['false'];
    }
    const max = family === 4 ? 32 : 128;
    const cidr = formatCidr(net);
    const hasRange = rule.prefixLength && (rule.prefixLength.min !== undefined || rule.prefixLength.max !== undefined);
    const set = hasRange
      ? `[ ${cidr}{${rule.prefixLength!.min ?? net.prefix},${rule.prefixLength!.max ?? max}} ]`
      : `[ ${cidr}+ ]`;
    switch (rule.matchOperator) {
      case 'Equal':
        conds.push(`net = ${cidr}`);
        break;
      case 'NotEqual':
        conds.push(`net != ${cidr}`);
        break;
      case 'In':
        conds.push(`net ~ ${set}`);
        break;
      case 'NotIn':
        conds.push(`net !~ ${set}`);
        break;
    }
  }
  if (rule.source === 'RemotePeers') conds.push('source = RTS_BGP');
  if (rule.interface) conds.push(`(defined(ifname) && ifname ~ "${rule.interface}")`);
  if (rule.peerType === 'iBGP') conds.push('internal_peer');
  if (rule.peerType === 'eBGP') conds.push('!internal_peer');
  const community = rule.communities?.values?.[0];
  if (community) {
    const c = communityLiteral(community);
    if (c) conds.push(`${c.literal} ~ ${c.large ? 'bgp_large_community' : 'bgp_community'}`);
  }
  if (rule.asPathPrefix && rule.asPathPrefix.length > 0) {
    conds.push(`bgp_path ~ [= ${rule.asPathPrefix.map(asNumberText).join(' ')} * =]`);
  }
  if (rule.priority !== undefined) conds.push(`(defined(krt_metric) && krt_metric = ${rule.priority})`);
  return conds;
}

function ruleOperations(rule: BGPFilterRule): string[] {
  const out: string[] = [];
  for (const op of rule.operations ?? []) {
    if (op.addCommunity) {
      const stmt = addCommunityStatement(op.addCommunity.value);
      if (stmt) out.push(stmt);
    }
    if (op.prependASPath) {
      // prepend() puts its argument first, so prepend the list back to front.
      for (const asn of [...op.prependASPath.prefix].reverse()) out.push(`bgp_path.prepend(${asNumberText(asn)});`);
    }
    if (op.setPriority) out.push(`krt_metric = ${op.setPriority.value};`);
  }
  return out;
}

/** Renders one BGPFilter list as a BIRD function; undefined when the list is empty. */
export function renderFilterFunction(filter: Resource, list: FilterList, warnings: string[]): string | undefined {
  const spec = (filter.spec ?? {}) as BGPFilterSpec;
  const rules = spec[list] ?? [];
  if (rules.length === 0) return undefined;
  const family: 4 | 6 = list.endsWith('V4') ? 4 : 6;
  const lines = [`# BGPFilter ${filter.metadata.name}, ${list}`, `function ${filterFunctionName(filter.metadata.name, list)}(bool internal_peer)`, '{'];
  rules.forEach((rule, i) => {
    const conds = ruleConditions(rule, family, warnings, `BGPFilter ${filter.metadata.name} ${list}[${i}]`);
    const body = [...ruleOperations(rule), rule.action === 'Accept' ? 'accept;' : 'reject;'];
    if (conds.length === 0) {
      lines.push(`  ${body.join(' ')}`);
    } else {
      lines.push(`  if ( ${conds.map((c) => `(${c})`).join(' && ')} ) then { ${body.join(' ')} }`);
    }
  });
  lines.push('}');
  return lines.join('\n');
}
