/**
 * `margay kube-controllers` in the lab: Namespaces, ServiceAccounts, NetworkPolicies and pod label
 * changes from the lab's API server into its etcd (Profiles `kns.*`/`ksa.*`, policies
 * `knp.default.*`, endpoint labels), and addresses of deleted pods and nodes released. It runs in
 * the control-plane namespace with its own kubeconfig (user `margay-kube-controllers`, bound by
 * rbac.ts) and the lab's datastore.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { moduleCommand, packageRoot } from '../entry.ts';
import { type ProcessRecord, startProcess } from '../processes.ts';
import type { LabState } from '../state.ts';

/** True when this build has the command (src/kube, from the `kube` branch). */
export function kubeControllersAvailable(): boolean {
  const [, args] = moduleCommand('cli/run');
  const cliRun = args[args.length - 1]!;
  return existsSync(join(cliRun, '..', '..', 'kube'));
}

/** Starts `margay kube-controllers`; undefined when this build does not have it. */
export async function startKubeControllers(options: { dir: string; state: LabState; kubeconfig: string }): Promise<ProcessRecord | undefined> {
  if (!kubeControllersAvailable()) return undefined;
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
