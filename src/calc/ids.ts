/**
 * The identifiers the calculation graph uses: the model's policy and profile keys, the
 * internal endpoint and network-set ids, and Calico's IP-set ids for named ports and services.
 *
 * Internal ids carry their kind so that one label index can hold every item:
 *   `wep/<namespace>/<name>`, `hep/<name>`, `netset/<namespace>/<name>`, `gnetset/<name>`.
 * The model's keys are `gnp/<name>`, `np/<namespace>/<name>`, `pro/<name>`; workload endpoint
 * plans are keyed `<namespace>/<name>` and host endpoint plans `<name>`.
 */
import { hash } from 'node:crypto';

/** An internal endpoint id: `wep/<ns>/<name>` or `hep/<name>`. */
export type EndpointId = string;

/** The key of a GlobalNetworkPolicy. */
export function globalPolicyKey(name: string): string {
  return `gnp/${name}`;
}

/** The key of a (namespaced) NetworkPolicy. */
export function namespacedPolicyKey(namespace: string, name: string): string {
  return `np/${namespace}/${name}`;
}

/** The key of a Profile. */
export function profileKey(name: string): string {
  return `pro/${name}`;
}

/** The internal id of a WorkloadEndpoint. */
export function workloadId(namespace: string, name: string): EndpointId {
  return `wep/${namespace}/${name}`;
}

/** The internal id of a HostEndpoint. */
export function hostEndpointId(name: string): EndpointId {
  return `hep/${name}`;
}

/** The internal id of a NetworkSet (namespaced) or GlobalNetworkSet. */
export function networkSetId(namespace: string | undefined, name: string): string {
  return namespace === undefined ? `gnetset/${name}` : `netset/${namespace}/${name}`;
}

/** The model key of an endpoint plan (`<ns>/<name>` or `<name>`) from its internal id. */
export function planKey(id: EndpointId): string {
  return id.slice(4);
}

/** True for a workload endpoint id. */
export function isWorkloadId(id: EndpointId): boolean {
  return id.startsWith('wep/');
}

/**
 * Ids made lately, by their input: the policies of a namespace share their named-port sets (a
 * cold start's 5,000 policies ask for the ids of ~100 sets), and a digest costs more than a
 * lookup. Bounded like the parsed selectors' cache (oldest dropped first).
 */
const UNIQUE_ID_CACHE_LIMIT = 8192;
const uniqueIds = new Map<string, string>();

/**
 * Calico's `hash.MakeUniqueID(prefix, content)`: `prefix:` + base64url (no padding) of
 * SHA-224(`prefix:content`).
 */
export function makeUniqueId(prefix: string, content: string): string {
  const input = `${prefix}:${content}`;
  let id = uniqueIds.get(input);
  if (id === undefined) {
    id = `${prefix}:${hash('sha224', input, 'base64url')}`;
    if (uniqueIds.size >= UNIQUE_ID_CACHE_LIMIT) uniqueIds.delete(uniqueIds.keys().next().value as string);
    uniqueIds.set(input, id);
  }
  return id;
}

/** Protocols a named port can have. */
export type PortProtocol = 'tcp' | 'udp' | 'sctp';

/**
 * The id of a named-port IP set, as Felix computes it: `n:` + hash of
 * `<selector id>,<protocol>,<port name>`.
 */
export function namedPortSetId(selectorId: string, protocol: PortProtocol, portName: string): string {
  return makeUniqueId('n', `${selectorId},${protocol},${portName}`);
}

/** The id of a service IP set (`svc` with ports, `svcnoport` without), as Felix computes it. */
export function serviceSetId(namespace: string, name: string, includePorts: boolean): string {
  return makeUniqueId(includePorts ? 'svc' : 'svcnoport', `${namespace}/${name}`);
}
