/**
 * The Kubernetes kinds Margay reads (v1 Pods, Namespaces, ServiceAccounts, Nodes and
 * networking.k8s.io/v1 NetworkPolicies): their collection paths and the few calls made on single
 * objects (a pod's GET and its annotation PATCH, a node's GET).
 */
import type { KubeClient } from './http.ts';
import type { KubeObject } from './informer.ts';

/** One kind: where its collection lives. */
export interface KindPath {
  apiVersion: string;
  kind: string;
  /** Cluster-wide collection path. */
  path: string;
  /** Path of one object (namespace ignored for cluster-wide kinds). */
  objectPath(name: string, namespace?: string): string;
}

function core(plural: string, kind: string, namespaced: boolean): KindPath {
  return {
    apiVersion: 'v1',
    kind,
    path: `/api/v1/${plural}`,
    objectPath: (name, namespace) =>
      namespaced ? `/api/v1/namespaces/${encodeURIComponent(namespace ?? 'default')}/${plural}/${encodeURIComponent(name)}` : `/api/v1/${plural}/${encodeURIComponent(name)}`,
  };
}

export const PODS = core('pods', 'Pod', true);
export const NAMESPACES = core('namespaces', 'Namespace', false);
export const SERVICE_ACCOUNTS = core('serviceaccounts', 'ServiceAccount', true);
export const NODES = core('nodes', 'Node', false);
export const NETWORK_POLICIES: KindPath = {
  apiVersion: 'networking.k8s.io/v1',
  kind: 'NetworkPolicy',
  path: '/apis/networking.k8s.io/v1/networkpolicies',
  objectPath: (name, namespace) => `/apis/networking.k8s.io/v1/namespaces/${encodeURIComponent(namespace ?? 'default')}/networkpolicies/${encodeURIComponent(name)}`,
};

/** A v1 Pod, as far as Margay reads it. */
export interface PodObject extends KubeObject {
  spec?: {
    nodeName?: string;
    serviceAccountName?: string;
    hostNetwork?: boolean;
    containers?: { name?: string; ports?: { name?: string; containerPort: number; protocol?: string; hostPort?: number; hostIP?: string }[] | null }[] | null;
    [key: string]: unknown;
  };
  status?: { phase?: string; reason?: string; podIP?: string; podIPs?: { ip: string }[] | null; [key: string]: unknown };
}

/** GETs one object; undefined when it does not exist. Other failures throw (KubeApiError). */
export async function getObject<T extends KubeObject>(client: KubeClient, kind: KindPath, name: string, namespace?: string, options: { timeoutMs?: number } = {}): Promise<T | undefined> {
  try {
    const obj = await client.get<T>(kind.objectPath(name, namespace), options);
    obj.apiVersion ??= kind.apiVersion;
    obj.kind ??= kind.kind;
    return obj;
  } catch (err) {
    if ((err as { status?: number }).status === 404) return undefined;
    throw err;
  }
}

/** Sets (or, with `null`, removes) annotations of a pod with a JSON merge patch. */
export async function patchPodAnnotations(client: KubeClient, namespace: string, name: string, annotations: Record<string, string | null>, options: { timeoutMs?: number } = {}): Promise<PodObject> {
  return client.patch<PodObject>(PODS.objectPath(name, namespace), { metadata: { annotations } }, options);
}
