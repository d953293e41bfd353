/**
 * IPPool: a range of addresses Calico IPAM assigns from, in blocks, with its encapsulation mode.
 * Validation follows libcalico-go's ippools client (`validateAndSetDefaults`), the v3 validator
 * and the IPPool CRD rules; defaults are those the client fills in before storing.
 */
import { z } from 'zod';
import { checkSubdomainName, selectorSchema } from '../common.ts';
import { cidrsOverlap, formatCidr, isMasked, LINK_LOCAL, parseCidr, parseIpNet } from '../../net/mod.ts';
import type { KindDefinition } from '../kind.ts';
import { lazy } from '../lazy.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import { enumOf, intRange, issue, specColumn, specOf, withSpec } from './infra-common.ts';

export const ENCAP_MODES = ['Never', 'Always', 'CrossSubnet'] as const;
export const ALLOWED_USES = ['Workload', 'Tunnel', 'LoadBalancer'] as const;
export const ASSIGNMENT_MODES = ['Automatic', 'Manual'] as const;

/** The IPPool spec as stored. */
export interface IPPoolSpec {
  cidr: string;
  vxlanMode?: (typeof ENCAP_MODES)[number];
  ipipMode?: (typeof ENCAP_MODES)[number];
  natOutgoing?: boolean;
  disabled?: boolean;
  disableBGPExport?: boolean;
  blockSize?: number;
  nodeSelector?: string;
  namespaceSelector?: string;
  allowedUses?: (typeof ALLOWED_USES)[number][];
  assignmentMode?: (typeof ASSIGNMENT_MODES)[number];
}

const specSchema = lazy(() => z.strictObject({
  cidr: z.string({ message: 'a CIDR is required (IPPool CIDR must be specified)' }),
  vxlanMode: enumOf(ENCAP_MODES).optional(),
  ipipMode: enumOf(ENCAP_MODES).optional(),
  natOutgoing: z.boolean().optional(),
  disabled: z.boolean().optional(),
  disableBGPExport: z.boolean().optional(),
  blockSize: intRange(0, 128).optional(),
  nodeSelector: selectorSchema.optional(),
  namespaceSelector: selectorSchema.optional(),
  allowedUses: z.array(enumOf(ALLOWED_USES)).optional(),
  assignmentMode: enumOf(ASSIGNMENT_MODES).optional(),
  // APIv1 compatibility fields that Calico accepts in the schema but refuses to store.
  ipip: z.unknown().refine((v) => v === undefined || v === null, { message: 'must not be set (APIv1 field, use ipipMode)' }).optional(),
  'nat-outgoing': z.unknown().refine((v) => v === undefined || v === false, { message: 'must not be set (APIv1 field, use natOutgoing)' }).optional(),
}));

function encapEnabled(mode: string | undefined): boolean {
  return mode === 'Always' || mode === 'CrossSubnet';
}

/** The block size Calico uses for a pool: the written one or 26 (IPv4) / 122 (IPv6). */
export function effectiveBlockSize(spec: IPPoolSpec): number {
  const net = parseCidr(spec.cidr);
  if (spec.blockSize !== undefined && spec.blockSize !== 0) return spec.blockSize;
  return net?.family === 6 ? 122 : 26;
}

function validate(res: Resource): FieldIssue[] {
  const spec = specOf(res) as unknown as IPPoolSpec;
  const issues: FieldIssue[] = [];
  if (spec.cidr === '') return [issue('spec.cidr', 'IPPool CIDR must be specified')];
  const parsed = parseIpNet(spec.cidr);
  if (!parsed) return [issue('spec.cidr', `IPPool CIDR must be a valid subnet (got ${JSON.stringify(spec.cidr)}; use a.b.c.d/n or x::/n)`)];
  const net = parsed.cidr;

  const blockSize = effectiveBlockSize(spec);
  if (net.family === 4 && (blockSize < 20 || blockSize > 32)) {
    issues.push(issue('spec.blockSize', `IPv4 block size must be between 20 and 32 (got ${blockSize})`));
  } else if (net.family === 6 && (blockSize < 116 || blockSize > 128)) {
    issues.push(issue('spec.blockSize', `IPv6 block size must be between 116 and 128 (got ${blockSize})`));
  }
  if (spec.disabled !== true && net.prefix > blockSize) {
    issues.push(issue('spec.cidr', `IP pool size is too small for use with Calico IPAM. It must be equal to or greater than the block size (/${net.prefix} is smaller than a /${blockSize} block)`));
  }
  if (!isMasked(parsed)) {
    issues.push(issue('spec.cidr', `IP pool CIDR is not strictly masked (did you mean ${formatCidr(net)}?)`));
  }
  if (net.family === 4 && cidrsOverlap(net, LINK_LOCAL[4])) {
    issues.push(issue('spec.cidr', 'IP pool range overlaps with IPv4 Link Local range 169.254.0.0/16'));
  }
  if (net.family === 6 && cidrsOverlap(net, LINK_LOCAL[6])) {
    issues.push(issue('spec.cidr', 'IP pool range overlaps with IPv6 Link Local range fe80::/10'));
  }
  if (encapEnabled(spec.ipipMode) && encapEnabled(spec.vxlanMode)) {
    issues.push(issue('spec.vxlanMode', 'ipipMode and vxlanMode cannot both be enabled on the same IP pool'));
  }
  if (net.family === 6 && encapEnabled(spec.ipipMode)) {
    issues.push(issue('spec.ipipMode', 'IPIP is not supported on IPv6 pools (ipipMode must be Never)'));
  }
  const uses = spec.allowedUses ?? [];
  const seen = new Set<string>();
  uses.forEach((use, i) => {
    if (seen.has(use)) issues.push(issue(`spec.allowedUses[${i}]`, `duplicate allowed use "${use}"`));
    seen.add(use);
  });
  if (seen.has('LoadBalancer')) {
    if (seen.has('Workload') || seen.has('Tunnel')) {
      issues.push(issue('spec.allowedUses', 'LoadBalancer cannot be combined with Workload or Tunnel allowed uses'));
    }
    if (encapEnabled(spec.ipipMode) || encapEnabled(spec.vxlanMode)) {
      issues.push(issue('spec.allowedUses', 'LoadBalancer IP pool cannot have IPIP or VXLAN enabled'));
    }
    // validator.go: validateIPPoolSpec refuses disableBGPExport on a LoadBalancer pool (its
    // addresses exist only to be announced) and any node selector but all().
    if (spec.disableBGPExport === true) {
      issues.push(issue('spec.disableBGPExport', 'a LoadBalancer IP pool must be exported over BGP (disableBGPExport cannot be true)'));
    }
    if (spec.nodeSelector !== undefined && spec.nodeSelector !== '' && spec.nodeSelector !== 'all()') {
      issues.push(issue('spec.nodeSelector', 'a LoadBalancer IP pool must have nodeSelector all()'));
    }
  }
  // Calico's client fills in the default uses (Workload, Tunnel) before it validates.
  if ((seen.has('Tunnel') || seen.size === 0) && nonEmpty(spec.namespaceSelector)) {
    issues.push(issue('spec.namespaceSelector', 'an IP pool with allowed use Tunnel cannot have a namespaceSelector (tunnel addresses belong to no namespace)'));
  }
  for (const field of ['nodeSelector', 'namespaceSelector'] as const) {
    if (spec[field]?.includes('global(')) issues.push(issue(`spec.${field}`, `global() is not valid in an IP pool's ${field}; use all()`));
  }
  return issues;
}

function nonEmpty(v: string | undefined): v is string {
  return v !== undefined && v !== '';
}

function applyDefaults(res: Resource): Resource {
  const spec = { ...(specOf(res) as unknown as IPPoolSpec) };
  const net = parseCidr(spec.cidr);
  if (net) spec.cidr = formatCidr(net);
  spec.blockSize = effectiveBlockSize(spec);
  spec.ipipMode ??= 'Never';
  spec.vxlanMode ??= 'Never';
  if (spec.nodeSelector === undefined || spec.nodeSelector === '') spec.nodeSelector = 'all()';
  if (spec.allowedUses === undefined || spec.allowedUses.length === 0) spec.allowedUses = ['Workload', 'Tunnel'];
  spec.assignmentMode ??= 'Automatic';
  const out: Record<string, unknown> = { ...spec };
  delete out.ipip;
  delete out['nat-outgoing'];
  return withSpec(res, out);
}

function validateAgainst(res: Resource, others: Resource[]): FieldIssue[] {
  const mine = parseCidr(String(specOf(res).cidr ?? ''));
  if (!mine) return [];
  const issues: FieldIssue[] = [];
  for (const other of others) {
    if (other.metadata.name === res.metadata.name) continue;
    const theirs = parseCidr(String(specOf(other).cidr ?? ''));
    if (theirs && cidrsOverlap(mine, theirs)) {
      issues.push(issue('spec.cidr', `IPPool(${res.metadata.name}) CIDR overlaps with IPPool(${other.metadata.name}) CIDR ${String(specOf(other).cidr)}`));
    }
  }
  return issues;
}

export const ipPoolKind: KindDefinition = {
  kind: 'IPPool',
  plural: 'ippools',
  namespaced: false,
  aliases: ['ipp', 'ipps', 'pool', 'pools'],
  get specSchema() {
    return specSchema();
  },
  checkName: checkSubdomainName,
  validate,
  applyDefaults,
  immutableFields: ['spec.cidr', 'spec.blockSize'],
  validateAgainst,
  columns: [specColumn('CIDR', 'cidr'), specColumn('SELECTOR', 'nodeSelector')],
  // calicoctl's wide view is NAME CIDR NAT IPIPMODE VXLANMODE DISABLED DISABLEBGPEXPORT SELECTOR;
  // the CLI appends these to the default columns (CIDR, SELECTOR).
  wideColumns: [
    { header: 'NAT', value: (r) => String(specOf(r).natOutgoing === true) },
    specColumn('IPIPMODE', 'ipipMode', 'Never'),
    specColumn('VXLANMODE', 'vxlanMode', 'Never'),
    { header: 'DISABLED', value: (r) => String(specOf(r).disabled === true) },
    { header: 'DISABLEBGPEXPORT', value: (r) => String(specOf(r).disableBGPExport === true) },
  ],
};
