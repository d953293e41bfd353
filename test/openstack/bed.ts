/**
 * The OpenStack tests' bed: a real etcd, a real neutron-server with Margay's driver on it, a
 * ResourceStore to read what the driver wrote (every resource checked with Margay's own
 * validation), and helpers to build Neutron objects through its API.
 */
import assert from 'node:assert/strict';
import { after, before } from 'node:test';
import { networkPolicyKind, nodeKind, type Resource, validateResource, workloadEndpointKind } from '../../src/api/mod.ts';
import { createDatastore, ResourceStore } from '../../src/datastore/mod.ts';
import type { NeutronApi } from '../../src/lab/openstack/neutron-api.ts';
import { startEtcd, type EtcdHandle } from '../harness/etcd.ts';
import { startNeutron, type NeutronHandle } from '../harness/neutron.ts';
import { eventually } from '../harness/wait.ts';

/** What a test gets. */
export interface OpenStackBed {
  etcd: EtcdHandle;
  neutron: NeutronHandle;
  api: NeutronApi;
  store: ResourceStore;
}

type Json = Record<string, any>;

/** Starts etcd and neutron-server before the file's tests, removes both after. */
export function useOpenStack(options: { resyncInterval?: number } = {}): { readonly bed: OpenStackBed } {
  let bed: OpenStackBed | undefined;
  before(async () => {
    const etcd = await startEtcd();
    try {
      const neutron = await startNeutron({ etcdEndpoint: etcd.endpoints[0]!, resyncInterval: options.resyncInterval ?? 60 });
      const store = new ResourceStore(createDatastore({ type: 'etcdv3', etcdEndpoints: etcd.endpoints }));
      bed = { etcd, neutron, api: neutron.api, store };
    } catch (err) {
      await etcd.destroy();
      throw err;
    }
  });
  after(async () => {
    await bed?.store.datastore.close();
    await bed?.neutron.destroy();
    await bed?.etcd.destroy();
  });
  return {
    get bed(): OpenStackBed {
      if (!bed) throw new Error('useOpenStack: not started yet');
      return bed;
    },
  };
}

/** Writes the Margay Node of a host, as its agent does when it starts. */
export async function addNode(store: ResourceStore, name: string): Promise<void> {
  await store.apply({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name }, spec: {} } as Resource);
  assert.ok(await store.get(nodeKind, name));
}

/** A network with one IPv4 subnet (DHCP on). */
export async function addNetwork(api: NeutronApi, cidr: string, extra: Json = {}): Promise<{ network: Json; subnet: Json }> {
  const network = await api.create<Json>('network', { name: `net-${cidr}` });
  const subnet = await api.create<Json>('subnet', { network_id: network.id, cidr, ip_version: 4, ...extra });
  return { network, subnet };
}

/** A VM port bound to `host`. */
export function addPort(api: NeutronApi, network: Json, host: string, extra: Json = {}): Promise<Json> {
  return api.create<Json>('port', { network_id: network.id, device_owner: 'compute:nova', device_id: `vm-${Math.random().toString(16).slice(2, 10)}`, 'binding:host_id': host, ...extra });
}

/** The WorkloadEndpoint name networking-calico gives a port. */
export function wepName(port: Json): string {
  const esc = (s: string) => s.replaceAll('-', '--');
  return `${esc(port['binding:host_id'])}-openstack-${esc(port.device_id || port.id)}-${esc(port.id)}`;
}

/** The port's WorkloadEndpoint (validated by Margay), or undefined. */
export async function getWep(store: ResourceStore, port: Json): Promise<Resource | undefined> {
  const res = await store.get(workloadEndpointKind, wepName(port), 'openstack');
  return res && validateResource(res);
}

/** A security group's NetworkPolicy (validated by Margay), or undefined. */
export async function getPolicy(store: ResourceStore, sgId: string): Promise<Resource | undefined> {
  const res = await store.get(networkPolicyKind, `ossg.default.${sgId}`, 'openstack');
  return res && validateResource(res);
}

/** Waits until `read()` satisfies `check` (the driver writes after Neutron answers, and resyncs on a timer). */
export async function until<T>(read: () => Promise<T>, check: (v: T) => boolean, what: string, timeoutMs = 20_000): Promise<T> {
  let last: T | undefined;
  try {
    return await eventually(async () => {
      last = await read();
      return check(last) ? last : false;
    }, { timeoutMs, intervalMs: 100, what }) as T;
  } catch {
    assert.fail(`${what}: not reached in ${timeoutMs / 1000} s; last: ${JSON.stringify(last)}`);
  }
}
