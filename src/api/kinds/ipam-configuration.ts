/**
 * IPAMConfiguration (calicoctl also says `ipamconfig`): the `default` singleton of cluster IPAM
 * settings. Defaults are the CRD's: strictAffinity false, autoAllocateBlocks true;
 * maxBlocksPerHost 0 (the default) means "use the built-in limit".
 */
import { z } from 'zod';
import type { KindDefinition } from '../kind.ts';
import { lazy } from '../lazy.ts';
import type { Resource } from '../resource.ts';
import { checkDefaultName, enumOf, intRange, specOf, withSpec } from './infra-common.ts';

const specSchema = lazy(() => z.strictObject({
  strictAffinity: z.boolean().optional(),
  autoAllocateBlocks: z.boolean().optional(),
  maxBlocksPerHost: intRange(0, 1000000).optional(),
  kubeVirtVMAddressPersistence: enumOf(['Enabled', 'Disabled'] as const).optional(),
  ipCooldownSeconds: intRange(0, 2147483647).optional(),
}));

function applyDefaults(res: Resource): Resource {
  const spec: Record<string, unknown> = { ...specOf(res) };
  spec.strictAffinity ??= false;
  spec.autoAllocateBlocks ??= true;
  spec.maxBlocksPerHost ??= 0;
  return withSpec(res, spec);
}

export const ipamConfigurationKind: KindDefinition = {
  kind: 'IPAMConfiguration',
  plural: 'ipamconfigurations',
  namespaced: false,
  aliases: ['ipamconfig', 'ipamconfigs'],
  get specSchema() {
    return specSchema();
  },
  checkName: checkDefaultName('IPAMConfiguration'),
  applyDefaults,
  columns: [
    { header: 'STRICTAFFINITY', value: (r) => String(specOf(r).strictAffinity === true) },
    { header: 'AUTOALLOCATEBLOCKS', value: (r) => String(specOf(r).autoAllocateBlocks !== false) },
  ],
  wideColumns: [{ header: 'MAXBLOCKSPERHOST', value: (r) => String(specOf(r).maxBlocksPerHost ?? 0) }],
};
