/**
 * ClusterInformation: the `default` singleton that records the cluster's GUID, type, version
 * and whether the datastore is ready. Written by Margay itself; calicoctl refuses to create,
 * replace or delete it (the CLI enforces that, not this schema).
 */
import { z } from 'zod';
import type { KindDefinition } from '../kind.ts';
import { lazy } from '../lazy.ts';
import { checkDefaultName, specOf } from './infra-common.ts';

const specSchema = lazy(() => z.strictObject({
  clusterGUID: z.string().optional(),
  clusterType: z.string().optional(),
  calicoVersion: z.string().optional(),
  datastoreReady: z.boolean().optional(),
  variant: z.string().optional(),
}));

export const clusterInformationKind: KindDefinition = {
  kind: 'ClusterInformation',
  plural: 'clusterinformations',
  namespaced: false,
  aliases: ['clusterinfo', 'clusterinfos'],
  get specSchema() {
    return specSchema();
  },
  checkName: checkDefaultName('ClusterInformation'),
  columns: [
    { header: 'CLUSTERGUID', value: (r) => String(specOf(r).clusterGUID ?? '') },
    { header: 'CLUSTERTYPE', value: (r) => String(specOf(r).clusterType ?? '') },
    { header: 'CALICOVERSION', value: (r) => String(specOf(r).calicoVersion ?? '') },
    // calicoctl prints the *bool field: "<nil>" when unset.
    { header: 'DATASTOREREADY', value: (r) => (specOf(r).datastoreReady === undefined ? '<nil>' : String(specOf(r).datastoreReady)) },
  ],
  wideColumns: [],
};
