/**
 * Zod schemas of the Kubernetes objects Margay accepts (`networking.k8s.io/v1` NetworkPolicy,
 * `v1` Namespace, `v1` Pod), with the checks the Kubernetes API server would make on the fields
 * the conversion reads. Metadata and the policy spec are strict; Pods are strict where Margay
 * reads them and tolerate the many Pod fields it does not use.
 */
import { z } from 'zod';
import { checkLabelKey, checkLabelName, checkLabelValue, checkSubdomainName, labelsSchema } from '../common.ts';
import { cidrContainsCidr, parseCidr } from '../../net/mod.ts';

function nameSchema(check: (name: string) => string | undefined) {
  return z.string({ message: 'a name is required' }).superRefine((name, ctx) => {
    const problem = check(name);
    if (problem) ctx.addIssue({ code: 'custom', message: problem });
  });
}

/** Kubernetes ObjectMeta: the fields a manifest or `kubectl get -o yaml` may carry. */
export function objectMetaSchema(nameCheck: (name: string) => string | undefined, namespaced: boolean) {
  return z.strictObject({
    name: nameSchema(nameCheck),
    namespace: namespaced ? nameSchema(checkLabelName).optional() : z.string().optional(),
    generateName: z.string().optional(),
    labels: labelsSchema.optional(),
    annotations: z.record(z.string(), z.string()).optional(),
    uid: z.string().optional(),
    resourceVersion: z.string().optional(),
    generation: z.number().optional(),
    creationTimestamp: z.string().nullable().optional(),
    deletionTimestamp: z.string().nullable().optional(),
    deletionGracePeriodSeconds: z.number().optional(),
    ownerReferences: z.array(z.record(z.string(), z.unknown())).optional(),
    finalizers: z.array(z.string()).optional(),
    managedFields: z.array(z.unknown()).optional(),
    selfLink: z.string().optional(),
  });
}

const labelKey = z.string().superRefine((key, ctx) => {
  const problem = checkLabelKey(key);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

const labelValue = z.string().superRefine((value, ctx) => {
  const problem = checkLabelValue(value);
  if (problem) ctx.addIssue({ code: 'custom', message: problem });
});

/** metav1.LabelSelector with the API server's requirement checks. */
export const labelSelectorSchema = z.strictObject({
  matchLabels: z.record(z.string(), z.string()).superRefine((labels, ctx) => {
    for (const [k, v] of Object.entries(labels)) {
      const problem = checkLabelKey(k) ?? checkLabelValue(v);
      if (problem) ctx.addIssue({ code: 'custom', message: problem, path: [k] });
    }
  }).nullable().optional(),
  matchExpressions: z
    .array(
      z
        .strictObject({
          key: labelKey,
          operator: z.enum(['In', 'NotIn', 'Exists', 'DoesNotExist'], { message: 'operator must be one of In, NotIn, Exists, DoesNotExist' }),
          values: z.array(labelValue).nullable().optional(),
        })
        .superRefine((req, ctx) => {
          const values = req.values ?? [];
          if ((req.operator === 'In' || req.operator === 'NotIn') && values.length === 0) {
            ctx.addIssue({ code: 'custom', path: ['values'], message: `must be specified when operator is ${req.operator}` });
          }
          if ((req.operator === 'Exists' || req.operator === 'DoesNotExist') && values.length > 0) {
            ctx.addIssue({ code: 'custom', path: ['values'], message: `may not be specified when operator is ${req.operator}` });
          }
        }),
    )
    .nullable()
    .optional(),
});

export type LabelSelector = z.infer<typeof labelSelectorSchema>;

/** IANA service name rules for named ports (what Kubernetes' IsValidPortName checks). */
export function checkPortName(name: string): string | undefined {
  if (name.length === 0 || name.length > 15) return 'a port name must be 1 to 15 characters';
  if (!/^[a-z0-9]([a-z0-9-]*[a-z0-9])?$/.test(name)) return 'a port name must contain only lower case alphanumeric characters or -, and start and end with an alphanumeric character';
  if (name.includes('--')) return "a port name must not contain consecutive '-'";
  if (!/[a-z]/.test(name)) return 'a port name must contain at least one letter';
  return undefined;
}

const cidrString = z.string().refine((s) => parseCidr(s) !== undefined, { message: 'must be a CIDR such as 10.0.0.0/16 or fd00::/64' });

const ipBlockSchema = z
  .strictObject({
    cidr: cidrString,
    except: z.array(cidrString).nullable().optional(),
  })
  .superRefine((block, ctx) => {
    const outer = parseCidr(block.cidr);
    if (!outer) return;
    (block.except ?? []).forEach((e, i) => {
      const inner = parseCidr(e);
      if (!inner) return;
      const inside = inner.prefix > outer.prefix && cidrContainsCidr(outer, inner);
      if (!inside) ctx.addIssue({ code: 'custom', path: ['except', i], message: `must be a strict subset of cidr ${block.cidr}` });
    });
  });

const peerSchema = z
  .strictObject({
    podSelector: labelSelectorSchema.nullable().optional(),
    namespaceSelector: labelSelectorSchema.nullable().optional(),
    ipBlock: ipBlockSchema.nullable().optional(),
  })
  .superRefine((peer, ctx) => {
    const selectors = peer.podSelector != null || peer.namespaceSelector != null;
    if (peer.ipBlock != null && selectors) {
      ctx.addIssue({ code: 'custom', message: 'may not specify both ipBlock and another peer (podSelector or namespaceSelector)' });
    } else if (peer.ipBlock == null && !selectors) {
      ctx.addIssue({ code: 'custom', message: 'must specify a peer (podSelector, namespaceSelector or ipBlock)' });
    }
  });

const policyPortSchema = z
  .strictObject({
    protocol: z.enum(['TCP', 'UDP', 'SCTP'], { message: 'protocol must be TCP, UDP or SCTP' }).nullable().optional(),
    port: z.union([z.number(), z.string()]).nullable().optional(),
    endPort: z.number().nullable().optional(),
  })
  .superRefine((p, ctx) => {
    if (typeof p.port === 'number') {
      if (!Number.isInteger(p.port) || p.port < 1 || p.port > 65535) ctx.addIssue({ code: 'custom', path: ['port'], message: 'must be between 1 and 65535, inclusive' });
    } else if (typeof p.port === 'string') {
      const problem = checkPortName(p.port);
      if (problem) ctx.addIssue({ code: 'custom', path: ['port'], message: `invalid named port ${JSON.stringify(p.port)}: ${problem}` });
    }
    if (p.endPort != null) {
      if (typeof p.port !== 'number') {
        ctx.addIssue({ code: 'custom', path: ['endPort'], message: 'may not be specified unless port is a number' });
      } else if (!Number.isInteger(p.endPort) || p.endPort < p.port || p.endPort > 65535) {
        ctx.addIssue({ code: 'custom', path: ['endPort'], message: 'must be an integer no less than port and at most 65535' });
      }
    }
  });

export type NetworkPolicyPeer = z.infer<typeof peerSchema>;
export type NetworkPolicyPort = z.infer<typeof policyPortSchema>;

/** One ingress rule (`from`, `ports`). */
export const ingressRuleSchema = z.strictObject({ from: z.array(peerSchema).nullable().optional(), ports: z.array(policyPortSchema).nullable().optional() });
/** One egress rule (`to`, `ports`). */
export const egressRuleSchema = z.strictObject({ to: z.array(peerSchema).nullable().optional(), ports: z.array(policyPortSchema).nullable().optional() });
export const policyTypesSchema = z.array(z.enum(['Ingress', 'Egress'], { message: 'must be Ingress or Egress' })).nullable().optional();

export const networkPolicySpecSchema = z.strictObject({
  podSelector: labelSelectorSchema.nullable().optional(),
  policyTypes: policyTypesSchema,
  ingress: z.array(ingressRuleSchema).nullable().optional(),
  egress: z.array(egressRuleSchema).nullable().optional(),
});

export const networkPolicySchema = z.strictObject({
  apiVersion: z.literal('networking.k8s.io/v1'),
  kind: z.literal('NetworkPolicy'),
  metadata: objectMetaSchema(checkSubdomainName, true),
  spec: networkPolicySpecSchema.optional(),
  status: z.unknown().optional(),
});

export type KubernetesNetworkPolicy = z.infer<typeof networkPolicySchema>;

export const namespaceSchema = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Namespace'),
  metadata: objectMetaSchema(checkLabelName, false),
  spec: z.strictObject({ finalizers: z.array(z.string()).optional() }).optional(),
  status: z.looseObject({ phase: z.string().optional() }).optional(),
});

export type KubernetesNamespace = z.infer<typeof namespaceSchema>;

export const serviceAccountSchema = z.looseObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('ServiceAccount'),
  metadata: objectMetaSchema(checkSubdomainName, true),
});

export type KubernetesServiceAccount = z.infer<typeof serviceAccountSchema>;

const containerPortSchema = z
  .strictObject({
    name: z.string().optional(),
    containerPort: z.number({ message: 'containerPort is required' }),
    protocol: z.string().optional(),
    hostPort: z.number().optional(),
    hostIP: z.string().optional(),
  })
  .superRefine((p, ctx) => {
    if (!Number.isInteger(p.containerPort) || p.containerPort < 1 || p.containerPort > 65535) {
      ctx.addIssue({ code: 'custom', path: ['containerPort'], message: 'must be between 1 and 65535, inclusive' });
    }
    if (p.hostPort !== undefined && (!Number.isInteger(p.hostPort) || p.hostPort < 0 || p.hostPort > 65535)) {
      ctx.addIssue({ code: 'custom', path: ['hostPort'], message: 'must be between 0 and 65535, inclusive' });
    }
    if (p.name !== undefined && p.name !== '') {
      const problem = checkPortName(p.name);
      if (problem) ctx.addIssue({ code: 'custom', path: ['name'], message: problem });
    }
  });

const containerSchema = z.looseObject({
  name: z.string().optional(),
  ports: z.array(containerPortSchema).nullable().optional(),
});

export const podSchema = z.strictObject({
  apiVersion: z.literal('v1'),
  kind: z.literal('Pod'),
  metadata: objectMetaSchema(checkSubdomainName, true),
  spec: z.looseObject({
    nodeName: z.string().optional(),
    serviceAccountName: z.string().optional(),
    hostNetwork: z.boolean().optional(),
    containers: z.array(containerSchema).nullable().optional(),
  }),
  status: z
    .looseObject({
      phase: z.string().optional(),
      podIP: z.string().optional(),
      podIPs: z.array(z.looseObject({ ip: z.string() })).nullable().optional(),
    })
    .optional(),
});

export type KubernetesPod = z.infer<typeof podSchema>;
