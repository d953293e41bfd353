/**
 * `lab pod add` / `lab pod delete` and the lab's pod list when the lab runs Kubernetes: the pod is
 * written to the API and the lab waits, as for its own pods, until it is Running, its server
 * listens on every port and every other host has a route to it.
 */
import { MargayError } from '../../errors/mod.ts';
import { describeMissing, waitPodRoutes } from '../routes.ts';
import { SERVER_READY_MS, waitServing } from '../serving.ts';
import type { LabPod, LabState } from '../state.ts';
import { pollUntil } from '../poll.ts';
import { createKubePod, deleteKubePod, getKubePod, type KubePodOptions, listKubePods, runningKubePod } from './pods.ts';

/** How long a new pod may take from the API to Running (scheduling, sandbox, CNI ADD, container). */
const POD_RUNNING_MS = 60_000;
/** How long every other host may take to learn a route to it. */
const POD_ROUTE_WAIT_MS = 30_000;

/** Why a pod is not running yet, for the timeout message. */
async function podPhase(state: LabState, namespace: string, name: string): Promise<string> {
  const pod = await getKubePod(state, namespace, name);
  if (!pod) return 'it does not exist';
  return `it is ${pod.status?.phase ?? 'unknown'}${pod.spec.nodeName ? ` on ${pod.spec.nodeName}` : ', not scheduled'}`;
}

/** Creates the pod through the API and resolves once it is Running, serving and routed everywhere. */
export async function addKubePod(state: LabState, options: KubePodOptions, progress: (line: string) => void): Promise<LabPod> {
  await createKubePod(state, options);
  const pod = await pollUntil(() => runningKubePod(state, options.namespace, options.name), { deadline: Date.now() + POD_RUNNING_MS, intervalMs: 250 });
  if (!pod) {
    throw new MargayError('MARGAY_ERR_NOT_READY', `pod ${options.namespace}/${options.name} is not Running after ${POD_RUNNING_MS / 1000} s: ${await podPhase(state, options.namespace, options.name)} (see \`margay lab kubectl describe pod -n ${options.namespace} ${options.name}\`)`);
  }
  await waitServing(pod, SERVER_READY_MS);
  const missing = await waitPodRoutes(state, [pod], POD_ROUTE_WAIT_MS);
  if (missing.length > 0) progress(`warning: after ${POD_ROUTE_WAIT_MS / 1000} s ${describeMissing(missing)}; see \`margay lab status\``);
  return pod;
}

/** Deletes the pod through the API; resolves once it is gone. */
export async function removeKubePod(state: LabState, namespace: string, name: string): Promise<void> {
  if (!(await getKubePod(state, namespace, name))) throw new MargayError('MARGAY_ERR_NOT_FOUND', `no pod ${namespace}/${name} in the lab (see \`margay lab kubectl get pods -A\`)`);
  await deleteKubePod(state, namespace, name);
}

/** Replaces `state.pods` with the API's Running pods. */
export async function refreshKubePods(state: LabState): Promise<void> {
  state.pods = await listKubePods(state);
}

/**
 * Waits (briefly) until every pod of `state.pods` listens on its ports and is routed from every
 * host, so a matrix taken right after `kubectl apply` measures policy, not start-up or BGP time.
 * Returns the routes still missing.
 */
export async function settleKubePods(state: LabState): Promise<string | undefined> {
  for (const pod of state.pods) await waitServing(pod, SERVER_READY_MS).catch(() => undefined);
  const missing = await waitPodRoutes(state, state.pods, POD_ROUTE_WAIT_MS);
  return missing.length > 0 ? describeMissing(missing) : undefined;
}
