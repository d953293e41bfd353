/**
 * Margay's own components act in the lab's API server exactly as on a real cluster: the lab
 * applies `examples/kubernetes/rbac.yaml` (ServiceAccounts `kube-system/margay-kube-controllers`
 * and `kube-system/margay-cni`, their ClusterRoles and bindings, docs/kubernetes.md) and gives
 * `margay kube-controllers` and every host's CNI configuration a kubeconfig with those accounts'
 * tokens, once kube-controller-manager's token controller has made them.
 */
import { join } from 'node:path';
import { MargayError } from '../../errors/mod.ts';
import { packageRoot } from '../entry.ts';
import { pollUntil } from '../poll.ts';
import { kubectl } from './kubectl.ts';

/** The ServiceAccounts of Margay's components (namespace kube-system). */
export const MARGAY_ACCOUNTS = { kubeControllers: 'margay-kube-controllers', cni: 'margay-cni' } as const;

/** Applies the RBAC manifest users deploy. */
export async function applyMargayRbac(kubeconfig: string): Promise<void> {
  await kubectl(kubeconfig, ['apply', '-f', join(packageRoot(), 'examples', 'kubernetes', 'rbac.yaml')]);
}

/** The token of a kube-system ServiceAccount, once its token Secret exists. */
export async function serviceAccountToken(kubeconfig: string, account: string, timeoutMs: number): Promise<string> {
  const token = await pollUntil(async () => {
    const secret = await kubectl(kubeconfig, ['get', 'serviceaccount', '-n', 'kube-system', account, '-o', 'jsonpath={.secrets[0].name}'], { allowFail: true });
    const name = secret.stdout.trim();
    if (!name) return undefined;
    const data = await kubectl(kubeconfig, ['get', 'secret', '-n', 'kube-system', name, '-o', 'jsonpath={.data.token}'], { allowFail: true });
    return data.stdout.trim() ? Buffer.from(data.stdout.trim(), 'base64').toString('utf8') : undefined;
  }, { deadline: Date.now() + timeoutMs, intervalMs: 250 });
  if (!token) throw new MargayError('MARGAY_ERR_NOT_READY', `ServiceAccount kube-system/${account} got no token within ${timeoutMs / 1000} s (kube-controller-manager's token controller; see kubernetes/kube-controller-manager.log)`);
  return token;
}
