/**
 * What the dataplane has been told to program, by kind: the IP sets, policies, workload and host
 * endpoints of every batch applied so far. The agent reads it for its metrics, its endpoint
 * statuses and the CNI's "is this endpoint programmed yet".
 */
import type { DataplaneUpdate } from '../calc/mod.ts';

/** The keys the dataplane holds, updated batch by batch. */
export class ProgrammedState {
  readonly ipSets = new Set<string>();
  readonly policies = new Set<string>();
  readonly workloads = new Set<string>();
  readonly hostEndpoints = new Set<string>();

  /** Records a batch the dataplane accepted. */
  track(updates: readonly DataplaneUpdate[]): void {
    for (const u of updates) {
      switch (u.type) {
        case 'ipset-update':
          this.ipSets.add(u.id);
          break;
        case 'ipset-remove':
          this.ipSets.delete(u.id);
          break;
        case 'policy-update':
          this.policies.add(u.policy.key);
          break;
        case 'policy-remove':
          this.policies.delete(u.key);
          break;
        case 'workload-update':
          this.workloads.add(u.endpoint.key);
          break;
        case 'workload-remove':
          this.workloads.delete(u.key);
          break;
        case 'host-endpoint-update':
          this.hostEndpoints.add(u.endpoint.key);
          break;
        case 'host-endpoint-remove':
          this.hostEndpoints.delete(u.key);
          break;
        default:
          break;
      }
    }
  }
}

/** The endpoint keys a batch updates. */
export function touchedEndpoints(updates: readonly DataplaneUpdate[]): string[] {
  const out: string[] = [];
  for (const u of updates) {
    if (u.type === 'workload-update' || u.type === 'host-endpoint-update') out.push(u.endpoint.key);
  }
  return out;
}
