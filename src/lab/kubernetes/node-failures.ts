/**
 * Failures of a Kubernetes lab host's node parts: a kubelet restarted (gracefully or killed), and
 * what `lab host fail` / `recover` add for Kubernetes — a failed host's containers die with it (they
 * run below the host's cgroup, out of reach of the namespace sweep), and a recovered host starts
 * containerd and kubelet again in its mount namespace, which kept their state.
 */
import type { LabHost } from '../plan.ts';
import { type ProcessRecord, isRunning, stopProcess } from '../processes.ts';
import { type LabState, writeState } from '../state.ts';
import { killCgroup } from './cgroups.ts';
import { startContainerd, startKubelet, waitKubeletHealthy } from './node.ts';
import { cgroupRootOf, hostPaths } from './paths.ts';
import { waitNodesReady } from './up.ts';

/** How long a restarted kubelet may take to report its node Ready again. */
const NODE_READY_MS = 60_000;

/** Replaces the process record of `role` with `record` and saves the state. */
function replaceRecord(labDir: string, state: LabState, record: ProcessRecord): void {
  state.processes = [...state.processes.filter((p) => p.role !== record.role), record];
  writeState(labDir, state);
}

/** Options of {@link restartKubelet}. */
export interface RestartKubeletOptions {
  /** SIGKILL instead of SIGTERM. */
  kill: boolean;
}

/** Stops the host's kubelet (its pods keep running) and starts it again; resolves once the node is Ready. */
export async function restartKubelet(labDir: string, state: LabState, host: LabHost, options: RestartKubeletOptions): Promise<void> {
  const old = state.processes.find((p) => p.role === `kubelet ${host.name}`);
  if (old && isRunning(old)) {
    if (options.kill) process.kill(old.pid, 'SIGKILL');
    await stopProcess(old, 10_000);
  }
  const record = startKubelet(host, hostPaths(labDir, host.name));
  replaceRecord(labDir, state, record);
  await waitKubeletHealthy(host, record, NODE_READY_MS);
  await waitNodesReady(state.kubernetes!.kubeconfig, [host.name], NODE_READY_MS);
}

/** Kills every container of the host (a crash takes them too); returns how many processes. */
export async function killHostContainers(host: LabHost): Promise<number> {
  return killCgroup(cgroupRootOf(host.name));
}

/** Starts containerd and kubelet of a recovered host again and waits until its node is Ready. */
export async function restartNode(labDir: string, state: LabState, host: LabHost): Promise<void> {
  const paths = hostPaths(labDir, host.name);
  replaceRecord(labDir, state, await startContainerd(host, paths));
  const kubelet = startKubelet(host, paths);
  replaceRecord(labDir, state, kubelet);
  await waitKubeletHealthy(host, kubelet, NODE_READY_MS);
  await waitNodesReady(state.kubernetes!.kubeconfig, [host.name], NODE_READY_MS);
}
