/**
 * Route convergence in the lab: a pod is reachable from another host only once that host has a
 * route for the pod's address learned over BGP (or programmed through VXLAN). `lab pod add` waits
 * for it, so a connectivity matrix taken right afterwards measures policy, not BGP timing.
 */
import { exec } from '../os/mod.ts';
import { MARGAY_VXLAN_ROUTE_PROTOCOL } from '../dataplane/mod.ts';
import type { LabHost } from './plan.ts';
import type { LabPod, LabState } from './state.ts';
import { pollUntil } from './poll.ts';

/** A host that has no route yet for a pod address. */
export interface MissingRoute {
  host: string;
  pod: string;
  address: string;
}

interface RouteEntry {
  dst?: string;
  dev?: string;
  protocol?: string;
}

/** True when `entry` carries workload traffic to another host: learned by BIRD, or programmed for a VXLAN pool. */
function isRemoteWorkloadRoute(entry: RouteEntry): boolean {
  return entry.protocol === 'bird' || entry.protocol === String(MARGAY_VXLAN_ROUTE_PROTOCOL);
}

async function hostRoutes(host: LabHost, address: string): Promise<boolean> {
  const family = address.includes(':') ? '-6' : '-4';
  const res = await exec('ip', [family, '-j', 'route', 'show', 'match', address], { netns: host.netns, allowFail: true });
  if (res.code !== 0) return false;
  const entries = JSON.parse(res.stdout || '[]') as RouteEntry[];
  return entries.some(isRemoteWorkloadRoute);
}

/** Every (host, pod address) pair where a host other than the pod's own has no route yet. */
export async function missingPodRoutes(state: LabState, pods: LabPod[] = state.pods): Promise<MissingRoute[]> {
  const missing: MissingRoute[] = [];
  for (const pod of pods) {
    for (const host of state.plan.hosts) {
      if (host.name === pod.host) continue;
      for (const address of pod.addresses) {
        if (!(await hostRoutes(host, address))) missing.push({ host: host.name, pod: `${pod.namespace}/${pod.name}`, address });
      }
    }
  }
  return missing;
}

/** Polls until every other host routes to the pods' addresses; returns what is still missing at the deadline. */
export async function waitPodRoutes(state: LabState, pods: LabPod[], timeoutMs: number): Promise<MissingRoute[]> {
  let missing: MissingRoute[] = [];
  const done = await pollUntil(async () => {
    missing = await missingPodRoutes(state, pods);
    return missing.length === 0 ? missing : undefined;
  }, { deadline: Date.now() + timeoutMs, intervalMs: 200 });
  return done ?? missing;
}

/** One line naming what is missing, for progress output and test failures. */
export function describeMissing(missing: MissingRoute[]): string {
  return missing.map((m) => `${m.host} has no route to ${m.pod} (${m.address})`).join('; ');
}
