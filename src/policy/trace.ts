/**
 * `policy trace` as a report: the verdict for one packet between two named endpoints, every
 * step of the evaluation in words, and the step that decided.
 */
import type { TraceResult, TraceStep } from '../calc/mod.ts';
import { MargayError } from '../errors/mod.ts';
import type { NamedEndpoint, PolicyView } from './view.ts';

/** A policy or profile key as a person reads it. */
export function describePolicyKey(key: string): string {
  if (key.startsWith('np/')) return `NetworkPolicy ${key.slice(3)}`;
  if (key.startsWith('gnp/')) return `GlobalNetworkPolicy ${key.slice(4)}`;
  if (key.startsWith('pro/')) return `Profile ${key.slice(4)}`;
  return key;
}

/** One step of a trace as a sentence. */
export function describeStep(step: TraceStep): string {
  const rule = (): string => `${step.direction} rule ${step.ruleIndex}`;
  switch (step.reason) {
    case 'rule':
      return `tier ${step.tier}, ${describePolicyKey(step.policy ?? '')}, ${rule()}: ${step.action}${step.logPrefix !== undefined ? ` (prefix "${step.logPrefix}")` : ''}`;
    case 'end-of-tier':
      return `tier ${step.tier}: no policy decided, end of tier: ${step.action}`;
    case 'profile':
      return `${describePolicyKey(step.policy ?? '')}, ${rule()}: ${step.action}${step.logPrefix !== undefined ? ` (prefix "${step.logPrefix}")` : ''}`;
    case 'end-of-profiles':
      return 'no policy or profile allowed it: deny (end of the endpoint chain)';
    case 'no-profile-default-deny':
      return 'no policy decided and the endpoint has no profile: deny (default)';
    case 'anti-spoofing':
      return 'the source address is not the workload\'s own: deny (anti-spoofing)';
    case 'same-endpoint':
      return 'source and destination are the same endpoint: allow';
    case 'failsafe':
      return `failsafe port: ${step.action}`;
  }
}

/** A traced packet: the verdict, the endpoints, every step and the one that decided. */
export interface TraceOutput {
  verdict: 'allow' | 'deny';
  packet: { protocol: string; srcIp: string; srcPort: number; dstIp: string; dstPort: number };
  from: { name?: string; key?: string; address: string };
  to: { name?: string; key?: string; address: string };
  decidedBy: (TraceStep & { description: string }) | { description: string };
  steps: Array<TraceStep & { description: string }>;
}

function pickAddresses(from: { endpoint?: NamedEndpoint; address?: string }, to: { endpoint?: NamedEndpoint; address?: string }): [string, string] {
  const fromList = from.address !== undefined ? [from.address] : from.endpoint?.addresses ?? [];
  const toList = to.address !== undefined ? [to.address] : to.endpoint?.addresses ?? [];
  const v4first = (l: string[]): string[] => [...l].sort((a, b) => Number(a.includes(':')) - Number(b.includes(':')));
  for (const a of v4first(fromList)) {
    const b = v4first(toList).find((x) => x.includes(':') === a.includes(':'));
    if (b !== undefined) return [a, b];
  }
  throw new MargayError('MARGAY_ERR_USAGE', `the two endpoints have no addresses of the same IP family (from: ${fromList.join(', ') || 'none'}; to: ${toList.join(', ') || 'none'})`);
}

/** The protocols `--protocol` names (any case); a number 1-255 is accepted too. */
const PROTOCOL_NAMES = ['tcp', 'udp', 'sctp', 'icmp', 'icmpv6', 'udplite'];

/** `--protocol` in lower case, or a usage error saying what is allowed. */
function checkProtocol(text: string): string {
  const protocol = text.trim().toLowerCase();
  const n = Number(protocol);
  if (PROTOCOL_NAMES.includes(protocol) || (/^\d+$/.test(protocol) && n >= 1 && n <= 255)) return protocol;
  throw new MargayError('MARGAY_ERR_USAGE', `--protocol ${JSON.stringify(text)}: expected TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or a protocol number 1-255`);
}

/** Traces one packet from `opts.from` to `opts.to` (named as {@link PolicyView.resolve} takes them). */
export function runTrace(view: PolicyView, opts: { from: string; to: string; port?: number; protocol: string; srcPort?: number }): TraceOutput {
  const protocol = checkProtocol(opts.protocol);
  const from = view.resolve(opts.from, '--from');
  const to = view.resolve(opts.to, '--to');
  const [srcIp, dstIp] = pickAddresses(from, to);
  const ported = protocol === 'tcp' || protocol === 'udp' || protocol === 'sctp';
  if (ported && opts.port === undefined) throw new MargayError('MARGAY_ERR_USAGE', `--port is required for ${protocol.toUpperCase()}`);
  const srcPort = opts.srcPort ?? 49152;
  const result: TraceResult = view.evaluator.trace(
    { srcIp, dstIp, protocol, ...(ported ? { srcPort, dstPort: opts.port } : {}) },
    { ...(from.endpoint ? { from: from.endpoint.key } : {}), ...(to.endpoint ? { to: to.endpoint.key } : {}) },
  );
  const steps = result.steps.map((s) => ({ ...s, description: describeStep(s) }));
  const last = [...steps].reverse().find((s) => s.action !== 'log');
  return {
    verdict: result.verdict,
    packet: { protocol, srcIp, srcPort: ported ? srcPort : 0, dstIp, dstPort: ported ? opts.port! : 0 },
    from: { ...(from.endpoint ? { name: from.endpoint.name, key: from.endpoint.key } : {}), address: srcIp },
    to: { ...(to.endpoint ? { name: to.endpoint.name, key: to.endpoint.key } : {}), address: dstIp },
    decidedBy: last ?? { description: 'no policy applies to either side: allow' },
    steps,
  };
}
