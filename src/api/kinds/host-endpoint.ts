/**
 * HostEndpoint: a host interface (or all of a host's interfaces, `*`) that policy applies to
 * (`hostendpoint.go`, `validateHostEndpointSpec`, `validateEndpointPort`).
 */
import { z } from 'zod';
import type { Column, KindDefinition } from '../kind.ts';
import type { FieldIssue, Resource } from '../resource.ts';
import { ipAddressSchema, portNumberSchema, portProtocolSchema, resourceNameSchema, specOf } from './policy-fields.ts';
import { checkPortName, checkResourceName } from './policy-values.ts';
import type { Protocol } from './rule.ts';

/** A named port on an endpoint, which rules can reference by name. */
export interface EndpointPort {
  name: string;
  protocol: Protocol;
  port: number;
}

export interface HostEndpointSpec {
  node?: string;
  /** `*` for every interface of the host, or one interface name. */
  interfaceName?: string;
  expectedIPs?: string[];
  profiles?: string[];
  ports?: EndpointPort[];
}

const INTERFACE_NAME = /^[a-zA-Z0-9_.-]{1,15}$/;

/** Calico's `interface` tag: `*`, or 1-15 characters of letters, digits, `_`, `.`, `-`. */
export function isInterfaceName(s: string): boolean {
  return s === '*' || INTERFACE_NAME.test(s);
}

/** {@link isInterfaceName} as a schema. */
export const interfaceNameSchema = z.string().refine(isInterfaceName, {
  error: (iss) => `must be '*' or an interface name of 1-15 letters, digits, '_', '.' or '-' (got ${JSON.stringify(iss.input)})`,
});

export const endpointPortNameSchema = z.string().superRefine((name, ctx) => {
  const problem = checkPortName(name);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

export const hostEndpointSpecSchema = specOf(
  z.strictObject({
    node: resourceNameSchema.optional(),
    interfaceName: z.union([z.literal(''), interfaceNameSchema]).optional(),
    expectedIPs: z.array(ipAddressSchema).optional(),
    profiles: z.array(resourceNameSchema).optional(),
    ports: z
      .array(
        z.strictObject({
          name: endpointPortNameSchema,
          protocol: portProtocolSchema,
          port: portNumberSchema,
        }),
      )
      .optional(),
  }),
);

function validateHostEndpoint(res: Resource): FieldIssue[] {
  const spec = (res.spec ?? {}) as HostEndpointSpec;
  const issues: FieldIssue[] = [];
  if (!spec.node) issues.push({ path: 'spec.node', message: 'no node has been specified (a host endpoint needs the node it is on)' });
  if (!spec.interfaceName && (spec.expectedIPs ?? []).length === 0) {
    issues.push({ path: 'spec.interfaceName', message: 'no interface or expected IPs have been specified' });
  }
  return issues;
}

const NODE_COLUMN: Column = { header: 'NODE', value: (r) => String((r.spec as HostEndpointSpec | undefined)?.node ?? '') };

export const hostEndpointKind: KindDefinition = {
  kind: 'HostEndpoint',
  plural: 'hostendpoints',
  namespaced: false,
  aliases: ['hostendpoint', 'hostendpoints', 'hep', 'heps'],
  specSchema: hostEndpointSpecSchema,
  checkName: checkResourceName,
  validate: validateHostEndpoint,
  columns: [NODE_COLUMN],
  wideColumns: [
    NODE_COLUMN,
    { header: 'INTERFACE', value: (r) => String((r.spec as HostEndpointSpec | undefined)?.interfaceName ?? '') },
    { header: 'IPS', value: (r) => ((r.spec as HostEndpointSpec | undefined)?.expectedIPs ?? []).join(',') },
    { header: 'PROFILES', value: (r) => ((r.spec as HostEndpointSpec | undefined)?.profiles ?? []).join(',') },
  ],
};
