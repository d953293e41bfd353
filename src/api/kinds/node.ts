/**
 * Node: a host running the Margay agent, with its BGP addresses, tunnel addresses and (in
 * status) its WireGuard keys. Mirrors Calico's internal v3 Node (`internalapi.NodeSpec`) and
 * `validateNodeSpec`.
 */
import { z } from 'zod';
import { asNumberSchema, checkSubdomainName } from '../common.ts';
import type { KindDefinition } from '../kind.ts';
import { lazy } from '../lazy.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import { enumOf, ipSchemaOf, issue, netSchemaOf, normalizeAsNumber, specOf, withSpec } from './infra-common.ts';

/** Go's `net.ParseMAC` for the 48-bit forms: `aa:bb:cc:dd:ee:ff`, `aa-bb-...`, `aabb.ccdd.eeff`. */
export function isMac(text: string): boolean {
  return /^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/.test(text) && !(text.includes(':') && text.includes('-'))
    || /^([0-9a-fA-F]{4}\.){2}[0-9a-fA-F]{4}$/.test(text)
    || /^([0-9a-fA-F]{2}:){7}[0-9a-fA-F]{2}$/.test(text)
    || /^([0-9a-fA-F]{2}:){19}[0-9a-fA-F]{2}$/.test(text);
}

const macSchema = lazy(() => z.string().refine(isMac, { message: 'must be a MAC address such as ee:ee:ee:ee:ee:ee' }));
const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

const bgpSchema = lazy(() => z.strictObject({
  asNumber: asNumberSchema.optional(),
  ipv4Address: netSchemaOf({ family: 4, allowBareIp: true }).optional(),
  ipv6Address: netSchemaOf({ family: 6, allowBareIp: true }).optional(),
  ipv4IPIPTunnelAddr: ipSchemaOf(4).optional(),
  routeReflectorClusterID: ipSchemaOf(4).optional(),
}));

const specSchema = lazy(() => z.strictObject({
  bgp: bgpSchema().optional(),
  ipv4VXLANTunnelAddr: ipSchemaOf(4).optional(),
  vxlanTunnelMACAddr: macSchema().optional(),
  ipv6VXLANTunnelAddr: ipSchemaOf(6).optional(),
  vxlanTunnelMACAddrV6: macSchema().optional(),
  orchRefs: z.array(z.strictObject({ nodeName: z.string().optional(), orchestrator: z.string() })).optional(),
  wireguard: z
    .strictObject({ interfaceIPv4Address: ipSchemaOf(4).optional(), interfaceIPv6Address: ipSchemaOf(6).optional() })
    .optional(),
  addresses: z
    .array(
      z.strictObject({
        address: netSchemaOf({ allowBareIp: true, masked: true }),
        type: enumOf(['CalicoNodeIP', 'InternalIP', 'ExternalIP'] as const).optional(),
      }),
    )
    .optional(),
  interfaces: z
    .array(
      z.strictObject({
        name: z.string().refine((s) => s === '' || NAME.test(s), { message: "must consist of lower case alphanumeric characters, '-' or '.'" }).optional(),
        addresses: z.array(z.string()).optional(),
      }),
    )
    .optional(),
}));

/** A WireGuard public key: base64 of exactly 32 bytes. */
function isWireguardKey(text: string): boolean {
  return /^[A-Za-z0-9+/]{43}=$/.test(text);
}

const statusSchema = lazy(() => z.strictObject({
  wireguardPublicKey: z.string().refine(isWireguardKey, { message: 'must be a base64-encoded WireGuard public key' }).optional(),
  wireguardPublicKeyV6: z.string().refine(isWireguardKey, { message: 'must be a base64-encoded WireGuard public key' }).optional(),
  podCIDRs: z.array(z.string()).optional(),
}));

function validate(res: Resource): FieldIssue[] {
  const bgp = specOf(res).bgp as Record<string, unknown> | undefined;
  if (bgp !== undefined && Object.values(bgp).every((v) => v === undefined || v === '')) {
    return [issue('spec.bgp', 'Spec.BGP should not be empty (set ipv4Address, ipv6Address, asNumber, ipv4IPIPTunnelAddr or routeReflectorClusterID, or leave bgp out)')];
  }
  return [];
}

function applyDefaults(res: Resource): Resource {
  const spec: Record<string, unknown> = { ...specOf(res) };
  const bgp = spec.bgp as Record<string, unknown> | undefined;
  if (bgp?.asNumber !== undefined) spec.bgp = { ...bgp, asNumber: normalizeAsNumber(bgp.asNumber) };
  return withSpec(res, spec);
}

function bgpCell(res: Resource, field: string): string {
  const bgp = specOf(res).bgp as Record<string, unknown> | undefined;
  if (!bgp) return '';
  const v = bgp[field];
  return v === undefined || v === '' ? '' : String(v);
}

export const nodeKind: KindDefinition = {
  kind: 'Node',
  plural: 'nodes',
  namespaced: false,
  aliases: ['no', 'nos'],
  get specSchema() {
    return specSchema();
  },
  get statusSchema() {
    return statusSchema();
  },
  checkName: checkSubdomainName,
  validate,
  applyDefaults,
  columns: [],
  wideColumns: [
    // calicoctl prints the node's own AS number, or the cluster default in parentheses.
    { header: 'ASN', value: (r) => (specOf(r).bgp ? bgpCell(r, 'asNumber') || '(64512)' : '') },
    { header: 'IPV4', value: (r) => bgpCell(r, 'ipv4Address') },
    { header: 'IPV6', value: (r) => bgpCell(r, 'ipv6Address') },
  ],
};
