/**
 * Waiting for a pod's workload to answer: a lab pod counts as up only once its server listens on
 * every port it serves, so a matrix taken right afterwards measures policy, not start-up time.
 */
import { exec } from '../os/mod.ts';
import { MargayError } from '../errors/mod.ts';
import { isRunning } from './processes.ts';
import { pollUntil } from './poll.ts';
import type { LabPod } from './state.ts';

/** How long a pod's server may take to listen on all its ports. */
export const SERVER_READY_MS = 20_000;

/** Waits until the pod's server listens on every port it serves (`ss` inside the pod namespace). */
export async function waitServing(pod: LabPod, timeoutMs: number): Promise<void> {
  const serving = await pollUntil(async () => {
    if (pod.server && !isRunning(pod.server)) throw new MargayError('MARGAY_ERR_NOT_READY', `the server of pod ${pod.namespace}/${pod.name} exited; see ${pod.server.logFile}`);
    const res = await exec('ss', ['-Hltun'], { netns: pod.netns, allowFail: true });
    // Lines like `tcp LISTEN 0 511 *:80 *:*`: protocol first, local address fifth.
    const listening = new Set(res.stdout.split('\n').map((l) => l.trim().split(/\s+/)).filter((f) => f.length >= 5).map((f) => `${f[4]!.slice(f[4]!.lastIndexOf(':') + 1)}/${f[0]}`));
    return pod.serve.every((p) => listening.has(p)) ? true : undefined;
  }, { deadline: Date.now() + timeoutMs, intervalMs: 100 });
  if (!serving) throw new MargayError('MARGAY_ERR_NOT_READY', `the server of pod ${pod.namespace}/${pod.name} does not listen on ${pod.serve.join(',')}; see ${pod.server?.logFile ?? `margay lab kubectl logs -n ${pod.namespace} ${pod.name}`}`);
}
