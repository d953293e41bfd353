/**
 * BGPPeer: an explicit BGP session, global or for the nodes a `node`/`nodeSelector` picks, to an
 * address (`peerIP`, optionally `:port`) or to the Calico nodes a `peerSelector` picks.
 * Validation follows Calico's v3 validator (`validateBGPPeerSpec`, `IP:port`) and the CRD rules.
 */
import { z } from 'zod';
import { asNumberSchema, checkSubdomainName, parseAsNumber, selectorSchema } from '../common.ts';
import { ipFamily, parseIpPort } from '../../net/mod.ts';
import type { KindDefinition } from '../kind.ts';
import { lazy } from '../lazy.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import {
  bgpPasswordSchema,
  enumOf,
  goDurationSchema,
  goDurationUpTo,
  intRange,
  issue,
  normalizeAsNumber,
  specOf,
  withSpec,
} from './infra-common.ts';

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const specSchema = lazy(() => z.strictObject({
  // validator.go: BGPPeerSpec.Node is tagged `name` (a DNS subdomain; the CRD caps it at 253).
  node: z.string().superRefine((s, ctx) => {
    const problem = s === '' ? undefined : checkSubdomainName(s);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  }).optional(),
  peerIP: z
    .string()
    .refine((s) => s === '' || parseIpPort(s) !== undefined, {
      message: 'must be an IP address, <IPv4>:<port> or [<IPv6>]:<port> with port 1-65535',
    })
    .optional(),
  asNumber: asNumberSchema.optional(),
  localASNumber: asNumberSchema.optional(),
  nodeSelector: selectorSchema.optional(),
  peerSelector: selectorSchema.optional(),
  localWorkloadSelector: selectorSchema.optional(),
  keepOriginalNextHop: z.boolean().optional(),
  nextHopMode: enumOf(['Auto', 'Self', 'Keep'] as const).optional(),
  password: bgpPasswordSchema.optional(),
  sourceAddress: enumOf(['UseNodeIP', 'None'] as const).optional(),
  failureDetectionMode: enumOf(['None', 'BFDIfDirectlyConnected'] as const).optional(),
  restartMode: enumOf(['GracefulRestart', 'LongLivedGracefulRestart'] as const).optional(),
  maxRestartTime: goDurationSchema.optional(),
  birdGatewayMode: enumOf(['Recursive', 'DirectIfDirectlyConnected'] as const).optional(),
  keepaliveTime: goDurationUpTo(21845, 'BGP hold times, three keepalives, are at most 65535 s').optional(),
  numAllowedLocalASNumbers: intRange(0, 2147483647).optional(),
  ttlSecurity: intRange(0, 255).optional(),
  filters: z
    .array(z.string().refine((s) => NAME.test(s) && s.length <= 253, { message: 'must be the name of a BGPFilter' }))
    .optional(),
  reachableBy: z.string().refine((s) => s === '' || ipFamily(s) !== undefined, { message: 'must be an IP address (the gateway the peer is reached through)' }).optional(),
  reversePeering: enumOf(['Auto', 'Manual'] as const).optional(),
}));

function nonEmpty(v: unknown): boolean {
  return typeof v === 'string' && v !== '';
}

function validate(res: Resource): FieldIssue[] {
  const spec = specOf(res);
  const issues: FieldIssue[] = [];
  if (nonEmpty(spec.node) && nonEmpty(spec.nodeSelector)) {
    issues.push(issue('spec.nodeSelector', 'node and nodeSelector cannot both be set'));
  }
  if (nonEmpty(spec.peerIP) && nonEmpty(spec.peerSelector)) {
    issues.push(issue('spec.peerSelector', 'peerIP and peerSelector cannot both be set'));
  }
  const asn = spec.asNumber === undefined ? 0 : (parseAsNumber(spec.asNumber as number | string) ?? 0);
  if (asn !== 0 && nonEmpty(spec.peerSelector)) {
    issues.push(issue('spec.asNumber', 'asNumber must be empty when peerSelector is set'));
  }
  if (nonEmpty(spec.localWorkloadSelector)) {
    if (asn === 0) issues.push(issue('spec.asNumber', 'asNumber is required when localWorkloadSelector is set'));
    if (nonEmpty(spec.peerIP)) issues.push(issue('spec.peerIP', 'peerIP must be empty when localWorkloadSelector is set'));
    if (nonEmpty(spec.peerSelector)) issues.push(issue('spec.peerSelector', 'peerSelector must be empty when localWorkloadSelector is set'));
  }
  if (spec.keepOriginalNextHop === true && spec.nextHopMode !== undefined) {
    issues.push(issue('spec.nextHopMode', 'keepOriginalNextHop and nextHopMode cannot both be set (use nextHopMode: Keep)'));
  }
  if (nonEmpty(spec.reachableBy)) {
    if (!nonEmpty(spec.peerIP)) {
      issues.push(issue('spec.reachableBy', 'reachableBy requires peerIP to be set'));
    } else {
      const peer = parseIpPort(String(spec.peerIP));
      const via = ipFamily(String(spec.reachableBy));
      if (peer && via !== undefined && peer.ip.family !== via) {
        issues.push(issue('spec.reachableBy', 'reachableBy and peerIP address family mismatched'));
      }
    }
  }
  return issues;
}

function applyDefaults(res: Resource): Resource {
  const spec: Record<string, unknown> = { ...specOf(res) };
  if (spec.asNumber !== undefined) spec.asNumber = normalizeAsNumber(spec.asNumber);
  if (spec.localASNumber !== undefined) spec.localASNumber = normalizeAsNumber(spec.localASNumber);
  return withSpec(res, spec);
}

/** calicoctl's NODE column: the node, else the node selector, else `(global)`. */
function nodeCell(res: Resource): string {
  const spec = specOf(res);
  if (nonEmpty(spec.node)) return String(spec.node);
  if (nonEmpty(spec.nodeSelector)) return String(spec.nodeSelector);
  return '(global)';
}

export const bgpPeerKind: KindDefinition = {
  kind: 'BGPPeer',
  plural: 'bgppeers',
  namespaced: false,
  aliases: ['bgpp', 'bgpps', 'bp', 'bps'],
  get specSchema() {
    return specSchema();
  },
  checkName: checkSubdomainName,
  validate,
  applyDefaults,
  columns: [
    { header: 'PEERIP', value: (r) => String(specOf(r).peerIP ?? '') },
    { header: 'NODE', value: nodeCell },
    { header: 'ASN', value: (r) => String(specOf(r).asNumber ?? 0) },
  ],
  wideColumns: [],
};
