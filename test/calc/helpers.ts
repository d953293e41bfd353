// Builders for calculation-graph tests: v3 resources as the datastore stores them, and a
// driver that feeds them to a graph by key.
import { BUILTIN_TIERS } from '../../src/api/kinds/tier.ts';
import type { Resource } from '../../src/api/resource.ts';
import { buildCalcGraph, keyOfResource, ModelSnapshot, type CalcGraph, type CalcGraphOptions, type DataplaneUpdate } from '../../src/calc/mod.ts';

export const API = 'projectcalico.org/v3';

/** A resource of any kind. */
export function resource(kind: string, name: string, spec: Record<string, unknown>, extra: { namespace?: string; labels?: Record<string, string> } = {}): Resource {
  const metadata: Resource['metadata'] = { name };
  if (extra.namespace !== undefined) metadata.namespace = extra.namespace;
  if (extra.labels !== undefined) metadata.labels = extra.labels;
  return { apiVersion: API, kind, metadata, spec };
}

/** The three built-in tiers. */
export function builtinTiers(): Resource[] {
  return BUILTIN_TIERS.map((t) => resource('Tier', t.name, { order: t.order, defaultAction: t.defaultAction }));
}

export interface WepOptions {
  node?: string;
  labels?: Record<string, string>;
  ips?: string[];
  profiles?: string[];
  ports?: Array<{ name: string; protocol: string; port: number }>;
  iface?: string;
  allowSpoofedSourcePrefixes?: string[];
  serviceAccount?: string;
}

/** A WorkloadEndpoint in `namespace` named `name`. */
export function wep(namespace: string, name: string, o: WepOptions = {}): Resource {
  const spec: Record<string, unknown> = {
    orchestrator: 'k8s',
    node: o.node ?? 'node-1',
    pod: name,
    endpoint: 'eth0',
    interfaceName: o.iface ?? `cali${name.slice(0, 11)}`,
    ipNetworks: o.ips ?? [],
    profiles: o.profiles ?? [`kns.${namespace}`],
  };
  if (o.ports !== undefined) spec.ports = o.ports;
  if (o.allowSpoofedSourcePrefixes !== undefined) spec.allowSpoofedSourcePrefixes = o.allowSpoofedSourcePrefixes;
  if (o.serviceAccount !== undefined) spec.serviceAccountName = o.serviceAccount;
  const labels: Record<string, string> = { ...(o.labels ?? {}), 'projectcalico.org/namespace': namespace, 'projectcalico.org/orchestrator': 'k8s' };
  if (o.serviceAccount !== undefined) labels['projectcalico.org/serviceaccount'] = o.serviceAccount;
  return resource('WorkloadEndpoint', name, spec, { namespace, labels });
}

/** A namespace profile `kns.<ns>` that allows all and applies pcns.* labels. */
export function nsProfile(namespace: string, labels: Record<string, string> = {}): Resource {
  const labelsToApply: Record<string, string> = { 'pcns.projectcalico.org/name': namespace };
  for (const [k, v] of Object.entries(labels)) labelsToApply[`pcns.${k}`] = v;
  return resource('Profile', `kns.${namespace}`, { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }], labelsToApply });
}

/** A NetworkPolicy. */
export function np(namespace: string, name: string, spec: Record<string, unknown>): Resource {
  return resource('NetworkPolicy', name, { tier: 'default', ...spec }, { namespace });
}

/** A GlobalNetworkPolicy. */
export function gnp(name: string, spec: Record<string, unknown>): Resource {
  return resource('GlobalNetworkPolicy', name, { tier: 'default', ...spec });
}

/** A graph plus helpers to feed it resources and collect its output. */
export class Harness {
  readonly graph: CalcGraph;
  readonly model = new ModelSnapshot();
  readonly warnings: string[] = [];

  constructor(options: Partial<CalcGraphOptions> = {}) {
    this.graph = buildCalcGraph({ hostname: 'node-1', onWarning: (m) => this.warnings.push(m), ...options });
  }

  put(...resources: Resource[]): this {
    for (const r of resources) this.graph.onUpdate(keyOfResource(r), r);
    return this;
  }

  del(...resources: Resource[]): this {
    for (const r of resources) this.graph.onUpdate(keyOfResource(r), undefined);
    return this;
  }

  /** Marks in-sync (once) and flushes; applies the batch to `model` and returns it. */
  sync(): DataplaneUpdate[] {
    if (!this.graph.inSync) this.graph.onInSync();
    return this.flush();
  }

  flush(): DataplaneUpdate[] {
    const batch = this.graph.flush();
    // Objects handed to the dataplane are never changed afterwards (the event sequencer compares
    // a key's next object with the one it sent): frozen, a later change by the graph throws.
    for (const u of batch) deepFreeze(u);
    this.model.applyAll(batch);
    return batch;
  }
}

/** Freezes `value` and everything reachable from it (sets and maps stay writable: not used in updates). */
export function deepFreeze<T>(value: T): T {
  if (typeof value !== 'object' || value === null || Object.isFrozen(value)) return value;
  Object.freeze(value);
  for (const v of Object.values(value)) deepFreeze(v);
  return value;
}

/** The messages of a batch, one short line each, for readable assertions. */
export function summary(batch: readonly DataplaneUpdate[]): string[] {
  return batch.map((u) => {
    switch (u.type) {
      case 'settings':
        return 'settings';
      case 'vxlan-update':
        return `vxlan-update ${u.plan.devices.map((d) => d.name).join(' ')}`;
      case 'ipset-update':
        return `ipset-update ${u.id} [${u.members.join(' ')}]`;
      case 'ipset-delta':
        return `ipset-delta ${u.id} +[${u.added.join(' ')}] -[${u.removed.join(' ')}]`;
      case 'ipset-remove':
        return `ipset-remove ${u.id}`;
      case 'policy-update':
        return `policy-update ${u.policy.key}`;
      case 'policy-remove':
        return `policy-remove ${u.key}`;
      case 'workload-update':
        return `workload-update ${u.endpoint.key}`;
      case 'workload-remove':
        return `workload-remove ${u.key}`;
      case 'host-endpoint-update':
        return `host-endpoint-update ${u.endpoint.key}`;
      case 'host-endpoint-remove':
        return `host-endpoint-remove ${u.key}`;
      case 'route-update':
        return `route-update ${u.route.type} ${u.route.dst}`;
      case 'route-remove':
        return `route-remove ${u.dst}`;
      case 'in-sync':
        return 'in-sync';
    }
  });
}

/** The message types of a batch, in order. */
export function types(batch: readonly DataplaneUpdate[]): string[] {
  return batch.map((u) => u.type);
}
