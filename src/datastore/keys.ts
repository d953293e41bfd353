/**
 * The etcd key layout, as Calico's etcdv3 backend lays it out, so that an etcd written by
 * Margay reads like one written by Calico:
 *   /calico/resources/v3/projectcalico.org/<plural>/[<namespace>/]<name>
 */

/** The prefix under which every v3 resource lives. */
export const RESOURCES_PREFIX = '/calico/resources/v3/projectcalico.org/';

/** The key of one resource. */
export function resourceKey(plural: string, name: string, namespace?: string): string {
  return namespace ? `${RESOURCES_PREFIX}${plural}/${namespace}/${name}` : `${RESOURCES_PREFIX}${plural}/${name}`;
}

/** The prefix that lists a kind (all namespaces), or one namespace of a namespaced kind. */
export function resourcePrefix(plural: string, namespace?: string): string {
  return namespace ? `${RESOURCES_PREFIX}${plural}/${namespace}/` : `${RESOURCES_PREFIX}${plural}/`;
}

/** Splits a resource key into its parts; undefined when the key is not a resource key. */
export function parseResourceKey(key: string): { plural: string; namespace?: string; name: string } | undefined {
  if (!key.startsWith(RESOURCES_PREFIX)) return undefined;
  const parts = key.slice(RESOURCES_PREFIX.length).split('/');
  if (parts.length === 2) return { plural: parts[0]!, name: parts[1]! };
  if (parts.length === 3) return { plural: parts[0]!, namespace: parts[1]!, name: parts[2]! };
  return undefined;
}
