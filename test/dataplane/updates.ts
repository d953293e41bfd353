/** Small builders of hand-written {@link DataplaneUpdate}s for dataplane tests. */
import type {
  CompiledPolicy,
  CompiledRule,
  DataplaneSettings,
  DataplaneUpdate,
  EndpointMatch,
  HostEndpointPlan,
  MatchCriteria,
  RuleAction,
  TierPlan,
  WorkloadEndpointPlan,
} from '../../src/calc/model.ts';
import { DEFAULT_SETTINGS } from '../../src/dataplane/nftables/settings.ts';

/** A `settings` update: the defaults with overrides. */
export function settings(overrides: Partial<DataplaneSettings> = {}): DataplaneUpdate {
  return { type: 'settings', settings: { ...DEFAULT_SETTINGS, ...overrides } };
}

/** A rule spec: action plus the parts of the match that are set. */
export interface RuleSpec {
  action: RuleAction;
  protocol?: number;
  notProtocol?: number;
  ipVersion?: 4 | 6;
  icmp?: MatchCriteria['icmp'];
  notIcmp?: MatchCriteria['notIcmp'];
  src?: EndpointMatch;
  dst?: EndpointMatch;
  logPrefix?: string;
}

function compile(key: string, direction: 'ingress' | 'egress', specs: RuleSpec[]): CompiledRule[] {
  return specs.map((s, index) => {
    const match: MatchCriteria = { src: s.src ?? {}, dst: s.dst ?? {} };
    if (s.protocol !== undefined) match.protocol = s.protocol;
    if (s.notProtocol !== undefined) match.notProtocol = s.notProtocol;
    if (s.ipVersion !== undefined) match.ipVersion = s.ipVersion;
    if (s.icmp) match.icmp = s.icmp;
    if (s.notIcmp) match.notIcmp = s.notIcmp;
    const r: CompiledRule = { match, action: s.action, origin: { policy: key, direction, index } };
    if (s.logPrefix !== undefined) r.logPrefix = s.logPrefix;
    return r;
  });
}

/** A compiled policy (or profile, with a `pro/` key). */
export function compiledPolicy(
  key: string,
  spec: { tier?: string; ingress?: RuleSpec[]; egress?: RuleSpec[]; doNotTrack?: boolean; preDNAT?: boolean; applyOnForward?: boolean },
): CompiledPolicy {
  const p: CompiledPolicy = { key, ingress: compile(key, 'ingress', spec.ingress ?? []), egress: compile(key, 'egress', spec.egress ?? []) };
  if (spec.tier !== undefined) p.tier = spec.tier;
  if (spec.doNotTrack) p.doNotTrack = true;
  if (spec.preDNAT) p.preDNAT = true;
  if (spec.applyOnForward) p.applyOnForward = true;
  return p;
}

/** A `policy-update`. */
export function policy(key: string, spec: Parameters<typeof compiledPolicy>[1]): DataplaneUpdate {
  return { type: 'policy-update', policy: compiledPolicy(key, spec) };
}

/** A tier plan. */
export function tier(name: string, spec: { ingress?: string[]; egress?: string[]; defaultAction?: 'Deny' | 'Pass' } = {}): TierPlan {
  return { name, defaultAction: spec.defaultAction ?? 'Deny', ingress: spec.ingress ?? [], egress: spec.egress ?? [] };
}

/** A `workload-update`. */
export function workload(
  key: string,
  interfaceName: string,
  addresses: string[],
  spec: { tiers?: TierPlan[]; profiles?: string[]; allowSpoofedSourcePrefixes?: string[]; nats?: WorkloadEndpointPlan['nats'] } = {},
): DataplaneUpdate {
  const endpoint: WorkloadEndpointPlan = {
    key,
    interfaceName,
    addresses,
    allowSpoofedSourcePrefixes: spec.allowSpoofedSourcePrefixes ?? [],
    tiers: spec.tiers ?? [],
    profiles: spec.profiles ?? [],
  };
  if (spec.nats !== undefined) endpoint.nats = spec.nats;
  return { type: 'workload-update', endpoint };
}

/** A `host-endpoint-update`. */
export function hostEndpoint(key: string, interfaceName: string, spec: Partial<Omit<HostEndpointPlan, 'key' | 'interfaceName'>> = {}): DataplaneUpdate {
  return {
    type: 'host-endpoint-update',
    endpoint: {
      key,
      interfaceName,
      addresses: spec.addresses ?? [],
      tiers: spec.tiers ?? [],
      untrackedTiers: spec.untrackedTiers ?? [],
      preDnatTiers: spec.preDnatTiers ?? [],
      forwardTiers: spec.forwardTiers ?? [],
      profiles: spec.profiles ?? [],
    },
  };
}

/** A net IP set. */
export function ipSet(id: string, members: string[]): DataplaneUpdate {
  return { type: 'ipset-update', id, kind: 'net', members };
}

/** An ip-port (named port) IP set. */
export function ipPortSet(id: string, members: string[]): DataplaneUpdate {
  return { type: 'ipset-update', id, kind: 'ip-port', members };
}

/** A workload route. */
export function workloadRoute(dst: string, interfaceName: string): DataplaneUpdate {
  return { type: 'route-update', route: { type: 'workload', dst, interfaceName } };
}

/** A blackhole route. */
export function blackhole(dst: string): DataplaneUpdate {
  return { type: 'route-update', route: { type: 'blackhole', dst } };
}

/** A single port as a range. */
export function port(first: number, last = first): { first: number; last: number } {
  return { first, last };
}

export const IN_SYNC: DataplaneUpdate = { type: 'in-sync' };
