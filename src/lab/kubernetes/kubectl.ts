/**
 * The lab talks to its API server the way its operator does: with kubectl and the operator's
 * kubeconfig (through the forwarder). One small wrapper for objects in and JSON out.
 */
import { dirname, join } from 'node:path';
import { exec } from '../../os/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import type { LabState } from '../state.ts';

/** The lab's kubeconfig, or a usage error when the lab runs without Kubernetes. */
export function labKubeconfig(state: LabState): string {
  if (!state.kubernetes) throw new MargayError('MARGAY_ERR_USAGE', 'this lab runs without Kubernetes: start it with `margay lab up --kubernetes`');
  return state.kubernetes.kubeconfig;
}

/** kubectl's flags for the lab: its kubeconfig, and its discovery cache in the lab folder (not ~/.kube). */
export function kubectlFlags(kubeconfig: string): string[] {
  return [`--kubeconfig=${kubeconfig}`, `--cache-dir=${join(dirname(kubeconfig), 'kubectl-cache')}`];
}

/** Options of {@link kubectl}. */
export interface KubectlOptions {
  /** Standard input (a manifest for `apply -f -`). */
  input?: string;
  allowFail?: boolean;
  timeoutMs?: number;
}

/** Runs `kubectl ARGS` against the lab; rejects with kubectl's own message on failure. */
export async function kubectl(kubeconfig: string, args: string[], options: KubectlOptions = {}): Promise<{ stdout: string; stderr: string; code: number }> {
  const res = await exec('kubectl', [...kubectlFlags(kubeconfig), ...args], { input: options.input, allowFail: true, timeoutMs: options.timeoutMs ?? 60_000 });
  if (res.code !== 0 && !options.allowFail) {
    throw new MargayError('MARGAY_ERR_COMMAND_FAILED', `kubectl ${args.join(' ')}: ${res.stderr.trim().split('\n').pop() ?? `exit ${res.code}`}`);
  }
  return res;
}

/** `kubectl get … -o json`, parsed; `items` for lists. */
export async function kubectlJson<T = Record<string, unknown>>(kubeconfig: string, args: string[]): Promise<T> {
  const res = await kubectl(kubeconfig, [...args, '-o', 'json']);
  return JSON.parse(res.stdout) as T;
}

/** Applies objects (`kubectl apply -f -`). */
export async function kubectlApply(kubeconfig: string, objects: object[]): Promise<void> {
  await kubectl(kubeconfig, ['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objects }) });
}
