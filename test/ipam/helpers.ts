/** Shared setup for IPAM tests: pools, nodes, reservations, workload endpoints, in any Datastore. */
import { validateResource } from '../../src/api/validate.ts';
import type { Datastore } from '../../src/datastore/datastore.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import type { Resource } from '../../src/api/resource.ts';

/** Applies resources (validated, with Calico's defaults) to the datastore. */
export async function apply(ds: Datastore, ...resources: unknown[]): Promise<Resource[]> {
  const store = new ResourceStore(ds);
  const out: Resource[] = [];
  for (const r of resources) out.push((await store.apply(validateResource(r))).resource);
  return out;
}

/** An IPPool manifest. */
export function pool(name: string, cidr: string, spec: Record<string, unknown> = {}): unknown {
  return { apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name }, spec: { cidr, ...spec } };
}

/** A Node manifest. */
export function node(name: string, labels: Record<string, string> = {}): unknown {
  return { apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name, labels }, spec: {} };
}

/** An IPReservation manifest. */
export function reservation(name: string, cidrs: string[]): unknown {
  return { apiVersion: 'projectcalico.org/v3', kind: 'IPReservation', metadata: { name }, spec: { reservedCIDRs: cidrs } };
}

/** A k8s-style WorkloadEndpoint manifest for a pod with the given addresses. */
export function wep(options: { node: string; namespace: string; pod: string; containerID?: string; ips: string[] }): unknown {
  const esc = (s: string) => s.replaceAll('-', '--');
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'WorkloadEndpoint',
    metadata: { name: `${esc(options.node)}-k8s-${esc(options.pod)}-eth0`, namespace: options.namespace },
    spec: {
      orchestrator: 'k8s',
      node: options.node,
      pod: options.pod,
      endpoint: 'eth0',
      ...(options.containerID ? { containerID: options.containerID } : {}),
      interfaceName: `cali${options.pod.replace(/[^a-z0-9]/g, '').slice(0, 11)}`,
      ipNetworks: options.ips.map((ip) => (ip.includes(':') ? `${ip}/128` : `${ip}/32`)),
    },
  };
}
