/**
 * The etcd key layout, as Calico's etcdv3 backend lays it out, so that an etcd written by
 * Margay reads like one written by Calico (the one place its prefixes are written down; the IPAM
 * keys under them are built and parsed by src/ipam/keys.ts):
 *   /calico/resources/v3/projectcalico.org/<plural>/[<namespace>/]<name>
 *   /calico/ipam/v2/assignment/ipv4/block/10.0.0.0-26      an IPAM block
 *   /calico/ipam/v2/host/<node>/ipv4/block/10.0.0.0-26     a host's affinity to it
 *   /calico/ipam/v2/handle/<id>                            an IPAM handle
 *   /calico/ipam/v2/config                                 the IPAM configuration
 *   /calico/felix/v2/<region>/host/<host>/…                an agent's status reports
 *   /calico/dhcp/v2/<region>/subnet/<subnet-id>            an OpenStack subnet's DHCP data (networking-calico's layout)
 *   /calico/margay/controllers/leader                      the controllers' leader lease
 *   /calico/margay/batches/<id>/owner, …/undo/<step>        a batch larger than one transaction: its
 *                                                           writer's lease and its undo records
 *   /calico/resources/v3/projectcalico.org/margay.batch.<id> such a batch's marker, while it runs (inside
 *                                                           the resource tree, so that a watch of resources
 *                                                           sees it in order; not a resource key)
 */

/** The prefix under which every v3 resource lives. */
export const RESOURCES_PREFIX = '/calico/resources/v3/projectcalico.org/';

/** Everything IPAM stores lives under this prefix (one consistent list reads it all). */
export const IPAM_PREFIX = '/calico/ipam/v2/';
/** IPAM blocks of both families (the agent and BGP follow them for routes). */
export const IPAM_BLOCKS_PREFIX = `${IPAM_PREFIX}assignment/`;
/** IPAM block affinities of every host. */
export const IPAM_HOSTS_PREFIX = `${IPAM_PREFIX}host/`;
/** IPAM handles. */
export const IPAM_HANDLES_PREFIX = `${IPAM_PREFIX}handle/`;
/** The IPAM configuration singleton (strictAffinity, maxBlocksPerHost …). */
export const IPAM_CONFIG_KEY = `${IPAM_PREFIX}config`;

/** The agents' status reports (Felix's layout: `<prefix><region>/host/<hostname>/status` …). */
export const FELIX_STATUS_PREFIX = '/calico/felix/v2/';

/** OpenStack subnets' DHCP data, written by the Neutron driver (`<prefix><region>/subnet/<subnet-id>`, networking-calico's datamodel_v2). */
export const DHCP_PREFIX = '/calico/dhcp/v2/';

/** The key the active `margay controllers` holds with its lease (a Margay extension). */
export const LEADER_KEY = '/calico/margay/controllers/leader';

/** The key the active `margay kube-controllers` holds with its lease (a Margay extension). */
export const KUBE_LEADER_KEY = '/calico/margay/kube-controllers/leader';

/** Owner keys and undo records of batches larger than one transaction (datastore/batch.ts; a Margay extension). */
export const BATCHES_PREFIX = '/calico/margay/batches/';

/**
 * Markers of batches larger than one transaction while they run. They live in the resource tree
 * (one path segment, so never a resource key) so that a syncer of resources sees a batch open and
 * close in revision order with its writes (datastore/batch.ts).
 */
export const BATCH_MARKERS_PREFIX = `${RESOURCES_PREFIX}margay.batch.`;

/** The keys of one batch: its marker, its owner (leased) and the undo record of a step. */
export function batchKeys(id: string): { marker: string; owner: string; undo: (step: number) => string } {
  return { marker: `${BATCH_MARKERS_PREFIX}${id}`, owner: `${BATCHES_PREFIX}${id}/owner`, undo: (step) => `${BATCHES_PREFIX}${id}/undo/${step}` };
}

/** True for the batch protocol's own keys (markers, owners, undo records): never data. */
export function isBatchKey(key: string): boolean {
  return key.startsWith(BATCH_MARKERS_PREFIX) || key.startsWith(BATCHES_PREFIX);
}

/** The key of one resource. */
export function resourceKey(plural: string, name: string, namespace?: string): string {
  return namespace ? `${RESOURCES_PREFIX}${plural}/${namespace}/${name}` : `${RESOURCES_PREFIX}${plural}/${name}`;
}

/** The prefix that lists a kind (all namespaces), or one namespace of a namespaced kind. */
export function resourcePrefix(plural: string, namespace?: string): string {
  return namespace ? `${RESOURCES_PREFIX}${plural}/${namespace}/` : `${RESOURCES_PREFIX}${plural}/`;
}

/** The parts of a resource key (frozen: the last one is handed out again, see {@link parseResourceKey}). */
export type ResourceKeyParts = Readonly<{ plural: string; namespace?: string; name: string }>;

let lastKey: string | undefined;
let lastParts: ResourceKeyParts | undefined;

/**
 * Splits a resource key into its parts; undefined when the key is not a resource key. The agent
 * parses each key it is fed twice in a row (its side tracker, the graph's dispatcher), so the
 * last answer is kept and given again for the same key.
 */
export function parseResourceKey(key: string): ResourceKeyParts | undefined {
  if (key === lastKey) return lastParts;
  let parts: ResourceKeyParts | undefined;
  if (key.startsWith(RESOURCES_PREFIX)) {
    const p = key.slice(RESOURCES_PREFIX.length).split('/');
    if (p.length === 2) parts = Object.freeze({ plural: p[0]!, name: p[1]! });
    else if (p.length === 3) parts = Object.freeze({ plural: p[0]!, namespace: p[1]!, name: p[2]! });
  }
  lastKey = key;
  lastParts = parts;
  return parts;
}
