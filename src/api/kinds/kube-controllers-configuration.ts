/**
 * KubeControllersConfiguration: the `default` singleton that enables and tunes the cluster
 * controllers (node clean-up and IPAM GC, host endpoints, policy/profile sync, load balancer).
 * Mirrors Calico's KubeControllersConfigurationSpec; defaults are the CRD's.
 */
import { z } from 'zod';
import { LOG_LEVELS, labelsSchema, selectorSchema } from '../common.ts';
import { parseCidrOrIp } from '../../net/mod.ts';
import type { KindDefinition } from '../kind.ts';
import { lazy } from '../lazy.ts';
import type { Resource } from '../resource.ts';
import { checkDefaultName, enumOf, goDurationSchema, intRange, portNumber, specOf, withSpec } from './infra-common.ts';

const NAME = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;
const mode = lazy(() => enumOf(['Enabled', 'Disabled'] as const));
const reconciler = lazy(() => z.strictObject({ reconcilerPeriod: goDurationSchema.optional() }));

const templateSchema = lazy(() => z.strictObject({
  generateName: z.string().max(253).refine((s) => s === '' || NAME.test(s), { message: "must consist of lower case alphanumeric characters, '-' or '.'" }).optional(),
  interfaceCIDRs: z.array(z.string().refine((s) => parseCidrOrIp(s) !== undefined, { message: 'must be a CIDR or IP address' })).optional(),
  interfacePattern: z.string().refine((s) => {
    try {
      new RegExp(s);
      return true;
    } catch {
      return false;
    }
  }, { message: 'must be a valid regular expression' }).optional(),
  labels: labelsSchema.optional(),
  annotations: z.record(z.string(), z.string()).optional(),
  nodeSelector: selectorSchema.optional(),
}));

const controllersSchema = lazy(() => z.strictObject({
  node: z
    .strictObject({
      reconcilerPeriod: goDurationSchema.optional(),
      syncLabels: mode().optional(),
      hostEndpoint: z
        .strictObject({
          autoCreate: mode().optional(),
          createDefaultHostEndpoint: mode().optional(),
          templates: z.array(templateSchema()).optional(),
        })
        .optional(),
      leakGracePeriod: goDurationSchema.optional(),
    })
    .optional(),
  policy: reconciler().optional(),
  workloadEndpoint: reconciler().optional(),
  serviceAccount: reconciler().optional(),
  namespace: reconciler().optional(),
  loadBalancer: z.strictObject({ assignIPs: enumOf(['AllServices', 'RequestedServicesOnly'] as const).optional() }).optional(),
  policyMigration: z.strictObject({ enabled: mode().optional() }).optional(),
}));

const specShape = lazy(() => ({
  // The CRD's enum (None … Panic) and the validator's logLevel (Trace … Fatal) both apply.
  logSeverityScreen: enumOf(LOG_LEVELS.filter((l) => l !== 'Trace') as ['Debug', 'Info', 'Warning', 'Error', 'Fatal']).optional(),
  healthChecks: mode().optional(),
  etcdV3CompactionPeriod: goDurationSchema.optional(),
  prometheusMetricsPort: portNumber(true).optional(),
  controllers: controllersSchema().optional(),
  debugProfilePort: intRange(0, 65535).optional(),
}));

const specSchema = lazy(() => z.strictObject(specShape()));

const statusSchema = lazy(() => z.strictObject({
  runningConfig: z.strictObject(specShape()).optional(),
  environmentVars: z.record(z.string(), z.string()).optional(),
}));

function applyDefaults(res: Resource): Resource {
  const spec: Record<string, unknown> = { ...specOf(res) };
  spec.healthChecks ??= 'Enabled';
  const controllers: Record<string, unknown> = { ...((spec.controllers as Record<string, unknown> | undefined) ?? {}) };
  const lb = controllers.loadBalancer as Record<string, unknown> | undefined;
  if (lb) controllers.loadBalancer = { ...lb, assignIPs: lb.assignIPs ?? 'AllServices' };
  const migration = controllers.policyMigration as Record<string, unknown> | undefined;
  if (migration) controllers.policyMigration = { ...migration, enabled: migration.enabled ?? 'Enabled' };
  spec.controllers = controllers;
  return withSpec(res, spec);
}

export const kubeControllersConfigurationKind: KindDefinition = {
  kind: 'KubeControllersConfiguration',
  plural: 'kubecontrollersconfigurations',
  namespaced: false,
  aliases: ['kubecontrollersconfig', 'kubecontrollersconfigs'],
  get specSchema() {
    return specSchema();
  },
  get statusSchema() {
    return statusSchema();
  },
  checkName: checkDefaultName('KubeControllersConfiguration'),
  applyDefaults,
  columns: [],
  wideColumns: [],
};
