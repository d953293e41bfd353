/**
 * Failures on demand, for demos and the end-to-end suite: restart a host's agent (gracefully or
 * with SIGKILL), make a whole host fail (its wire cut and every process in it killed, as a crash
 * or a power cut would), and bring it back.
 */
import { MargayError } from '../errors/mod.ts';
import { setHostWire, pidsInNetns } from './fabric.ts';
import { type LabContext, findHost, requireLab, startAgent, waitAgentsReady } from './lab.ts';
import type { LabHost } from './plan.ts';
import { describeMissing, type MissingRoute, waitPodRoutes } from './routes.ts';
import { isRunning, stopProcess } from './processes.ts';
import { type LabState, writeState } from './state.ts';
import { killHostContainers, restartKubelet as restartHostKubelet, restartNode } from './kubernetes/node-failures.ts';
import { refreshPods } from './lab.ts';

/** How long a restarted agent may take to be in sync again. */
const AGENT_READY_MS = 60_000;
/** How long a recovered host's BGP sessions may take to carry every pod route again. */
const ROUTES_BACK_MS = 30_000;

function agentRole(host: LabHost): string {
  return `agent ${host.name}`;
}

/** Starts the host's agent again, replaces its process record and waits until it is ready. */
async function startAgainAndWait(ctx: LabContext, state: LabState, host: LabHost): Promise<void> {
  const record = startAgent(ctx, state, host);
  state.processes = [...state.processes.filter((p) => p.role !== agentRole(host)), record];
  writeState(ctx.dir, state);
  await waitAgentsReady(state, AGENT_READY_MS, [host]);
}

/** Options of {@link restartAgent}. */
export interface RestartAgentOptions {
  /** SIGKILL instead of SIGTERM: the agent gets no chance to clean up. */
  kill: boolean;
}

/** Stops a host's agent (BIRD keeps running and is adopted) and starts it again; resolves once ready. */
export async function restartAgent(ctx: LabContext, hostName: string, options: RestartAgentOptions): Promise<void> {
  const state = requireLab(ctx);
  const host = findHost(state, hostName);
  if (state.failedHosts?.includes(host.name)) throw new MargayError('MARGAY_ERR_USAGE', `${host.name} has failed; bring it back with \`margay lab host recover ${host.name}\``);
  const agent = state.processes.find((p) => p.role === agentRole(host));
  if (agent && isRunning(agent)) {
    if (options.kill) process.kill(agent.pid, 'SIGKILL');
    await stopProcess(agent, 10_000);
  }
  await startAgainAndWait(ctx, state, host);
}

/** Makes a host fail: its wire is cut at the bridge and every process inside it (agent, BIRD; containerd, kubelet and the containers) is killed. */
export async function failHost(ctx: LabContext, hostName: string): Promise<{ killed: number }> {
  const state = requireLab(ctx);
  const host = findHost(state, hostName);
  await setHostWire(state.plan, host, false);
  let killed = 0;
  for (const pid of await pidsInNetns(host.netns)) {
    try {
      process.kill(pid, 'SIGKILL');
      killed++;
    } catch {
      // Already gone.
    }
  }
  if (state.kubernetes) killed += await killHostContainers(host);
  state.failedHosts = [...new Set([...(state.failedHosts ?? []), host.name])];
  writeState(ctx.dir, state);
  return { killed };
}

/**
 * Brings a failed host back: wire restored, agent started (BIRD restarts in recovery mode).
 * Resolves once the agent is ready and BGP has carried the routes again; returns any pod route
 * still missing after {@link ROUTES_BACK_MS}.
 */
export async function recoverHost(ctx: LabContext, hostName: string): Promise<MissingRoute[]> {
  const state = requireLab(ctx);
  const host = findHost(state, hostName);
  await setHostWire(state.plan, host, true);
  state.failedHosts = (state.failedHosts ?? []).filter((h) => h !== host.name);
  await startAgainAndWait(ctx, state, host);
  if (state.kubernetes) await restartNode(ctx.dir, state, host);
  await refreshPods(state);
  return waitPodRoutes(state, state.pods, ROUTES_BACK_MS);
}

/** Restarts a host's kubelet (SIGTERM, or SIGKILL with `kill`); resolves once it is healthy and its node Ready. */
export async function restartKubelet(ctx: LabContext, hostName: string, options: RestartAgentOptions): Promise<void> {
  const state = requireLab(ctx);
  const host = findHost(state, hostName);
  if (!state.kubernetes) throw new MargayError('MARGAY_ERR_USAGE', 'this lab runs no kubelets: start it with `margay lab up --kubernetes`');
  if (state.failedHosts?.includes(host.name)) throw new MargayError('MARGAY_ERR_USAGE', `${host.name} has failed; bring it back with \`margay lab host recover ${host.name}\``);
  await restartHostKubelet(ctx.dir, state, host, options);
}
