/**
 * The policy scenario the runtime tests share: default deny for every endpoint, clients may talk
 * to servers, nothing else. Networks `margay-client` and `margay-server` put the `role` label on
 * their endpoints (through `args.cni.labels`) and draw from the same pool.
 */
import type { Bed } from './bed.ts';

export const POLICIES = [
  { apiVersion: 'projectcalico.org/v3', kind: 'GlobalNetworkPolicy', metadata: { name: 'default-deny' }, spec: { order: 1000, selector: 'all()', types: ['Ingress', 'Egress'] } },
  {
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'clients-to-servers' },
    spec: { order: 10, selector: "role == 'server'", types: ['Ingress'], ingress: [{ action: 'Allow', source: { selector: "role == 'client'" } }] },
  },
  {
    apiVersion: 'projectcalico.org/v3',
    kind: 'GlobalNetworkPolicy',
    metadata: { name: 'clients-out' },
    spec: { order: 10, selector: "role == 'client'", types: ['Egress'], egress: [{ action: 'Allow', destination: { selector: "role == 'server'" } }] },
  },
];

/** Writes the two networks into the bed's configuration folder; returns their texts. */
export function roleNetworks(bed: Bed): { client: string; server: string } {
  const plugin = (role: string) => ({ type: 'margay', args: { cni: { labels: [{ key: 'role', value: role }] } } });
  return { client: bed.network('margay-client', [plugin('client')]), server: bed.network('margay-server', [plugin('server')]) };
}
