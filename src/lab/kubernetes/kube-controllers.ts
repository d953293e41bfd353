/**
 * `margay kube-controllers` in the lab: Namespaces, ServiceAccounts, NetworkPolicies and pod label
 * changes from the lab's API server into its etcd (Profiles `kns.*`/`ksa.*`, policies
 * `knp.default.*`, endpoint labels), and addresses of deleted pods and nodes released. It runs in
 * the control-plane namespace with its own kubeconfig (the token of ServiceAccount
 * `kube-system/margay-kube-controllers`, see rbac.ts) and the lab's datastore.
 */
import { join } from 'node:path';
import { profileKind } from '../../api/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import { createDatastore } from '../../datastore/mod.ts';
import { ResourceStore } from '../../datastore/mod.ts';
import { moduleCommand, packageRoot } from '../entry.ts';
import { pollUntil } from '../poll.ts';
import { type ProcessRecord, isRunning, startProcess } from '../processes.ts';
import type { LabState } from '../state.ts';

/** Starts `margay kube-controllers`. */
export function startKubeControllers(options: { dir: string; state: LabState; kubeconfig: string }): ProcessRecord {
  const [node, args] = moduleCommand('cli/run', ['kube-controllers', '--kubeconfig', options.kubeconfig]);
  return startProcess({
    role: 'kube-controllers',
    cmd: node,
    args,
    netns: options.state.plan.kubernetes!.netns,
    cwd: packageRoot(),
    logFile: join(options.dir, 'kube-controllers.log'),
    env: { ...process.env, DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: options.state.etcdEndpoint },
  });
}

/** Waits until the controllers have converted the `default` namespace (Profile `kns.default`): their first sync is done. */
export async function waitKubeControllersSynced(state: LabState, record: ProcessRecord, timeoutMs: number): Promise<void> {
  const store = new ResourceStore(createDatastore({ type: 'etcdv3', etcdEndpoints: state.etcdEndpoint.split(',') }));
  try {
    const synced = await pollUntil(async () => {
      if (!isRunning(record)) throw new MargayError('MARGAY_ERR_NOT_READY', `margay kube-controllers exited; see ${record.logFile}`);
      return (await store.get(profileKind, 'kns.default')) ? true : undefined;
    }, { deadline: Date.now() + timeoutMs, intervalMs: 250 });
    if (!synced) throw new MargayError('MARGAY_ERR_NOT_READY', `margay kube-controllers did not convert namespace default within ${timeoutMs / 1000} s; see ${record.logFile}`);
  } finally {
    await store.datastore.close();
  }
}
