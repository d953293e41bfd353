/**
 * The workloadEndpoint controller: keeps the WorkloadEndpoints of Kubernetes pods (orchestrator
 * `k8s`, written by the CNI plugin) in step with their pods, as calico-kube-controllers' pod
 * controller does:
 *
 * - a pod whose labels or service account change → each of its WorkloadEndpoints gets the pod's
 *   labels (plus `projectcalico.org/namespace`, `…/orchestrator`, `…/serviceaccount`) and
 *   `spec.serviceAccountName`; nothing else of the endpoint is touched;
 * - a full resync at start and every reconciler period does the same for every endpoint, and
 *   deletes the endpoints whose pod no longer exists or now runs on another node (a pod deleted
 *   while its host's agent was down), once the API server confirms it with a fresh GET.
 *
 * Endpoints of other orchestrators are never read into a decision.
 */
import { podEndpointLabels, parseWorkloadEndpointName, workloadEndpointNamePrefix } from '../../api/mod.ts';
import { workloadEndpointKind } from '../../api/mod.ts';
import type { Resource } from '../../api/mod.ts';
import { type ResourceStore, resourceKey, resourcesFromPairs } from '../../datastore/mod.ts';
import { hasCode } from '../../errors/mod.ts';
import type { Logger } from '../../log/mod.ts';
import type { KubeClient } from '../client/http.ts';
import type { Informer } from '../client/informer.ts';
import { getObject, PODS, type PodObject } from '../client/kinds.ts';
import { ResyncingController } from './base.ts';
import { decidedContent } from './writer.ts';

/** Options of {@link EndpointController}. */
export interface EndpointControllerOptions {
  informer: Informer<PodObject>;
  store: ResourceStore;
  client: KubeClient;
  periodMs: number;
  logger?: Logger;
  onResync?(name: string, report: EndpointResyncReport): void;
}

/** What a full resync did. */
export interface EndpointResyncReport {
  endpoints: number;
  updated: string[];
  deleted: string[];
  failed: { name: string; error: string }[];
}

function isK8s(wep: Resource): boolean {
  return (wep.spec as { orchestrator?: string } | undefined)?.orchestrator === 'k8s';
}

/** The endpoint with the pod's labels and service account, or undefined when nothing changes. */
export function endpointFor(wep: Resource, pod: PodObject): Resource | undefined {
  const spec = { ...((wep.spec ?? {}) as Record<string, unknown>) };
  const serviceAccount = pod.spec?.serviceAccountName ?? '';
  if (serviceAccount) spec.serviceAccountName = serviceAccount;
  else delete spec.serviceAccountName;
  const next: Resource = { ...wep, metadata: { ...wep.metadata, labels: podEndpointLabels({ metadata: pod.metadata, spec: pod.spec }) }, spec };
  return decidedContent(next) === decidedContent(wep) ? undefined : next;
}

/** Why an endpoint no longer has a pod, or undefined when its pod is there. */
function staleness(wep: Resource, pod: PodObject | undefined): string | undefined {
  if (!pod) return 'its pod does not exist';
  const node = (wep.spec as { node?: string } | undefined)?.node;
  const podNode = pod.spec?.nodeName;
  if (podNode && node && podNode !== node) return `its pod now runs on ${podNode}`;
  return undefined;
}

/** See the module comment. */
export class EndpointController extends ResyncingController<EndpointResyncReport> {
  readonly name = 'workloadEndpoint';
  readonly #o: EndpointControllerOptions;

  constructor(options: EndpointControllerOptions) {
    super(options, 'pod');
    this.#o = options;
  }

  /** A pod event: queue the pod when its labels or service account changed. */
  onEvent(key: string, pod: PodObject, type: 'added' | 'modified' | 'deleted', previous?: PodObject): void {
    if (this.stopped || !this.#o.informer.synced || type === 'deleted') return;
    if (pod.spec?.hostNetwork || !pod.spec?.nodeName) return;
    if (previous && JSON.stringify(previous.metadata.labels ?? {}) === JSON.stringify(pod.metadata.labels ?? {}) && previous.spec?.serviceAccountName === pod.spec?.serviceAccountName && previous.spec?.nodeName === pod.spec?.nodeName) return;
    this.queue.add(key);
  }

  /** The endpoints of one pod on its node (one range read). */
  async #endpointsOf(pod: PodObject): Promise<Resource[]> {
    const namespace = pod.metadata.namespace ?? 'default';
    const node = pod.spec?.nodeName ?? '';
    const prefix = workloadEndpointNamePrefix({ node, orchestrator: 'k8s', pod: pod.metadata.name });
    const { items } = await this.#o.store.datastore.list(resourceKey(workloadEndpointKind.plural, prefix, namespace));
    return resourcesFromPairs(items).filter((w) => isK8s(w) && (w.spec as { pod?: string }).pod === pod.metadata.name);
  }

  protected async syncKey(key: string): Promise<void> {
    const pod = this.#o.informer.get(key);
    if (!pod || pod.spec?.hostNetwork || !pod.spec?.nodeName) return;
    for (const wep of await this.#endpointsOf(pod)) {
      const next = endpointFor(wep, pod);
      if (!next) continue;
      await this.#o.store.replace(next); // conditional on the revision read: a lost race retries
      this.logger.info({ controller: this.name, pod: key, endpoint: wep.metadata.name }, 'endpoint labels updated');
    }
  }

  /** One full resync (module comment). */
  protected async fullResync(): Promise<EndpointResyncReport> {
    const report: EndpointResyncReport = { endpoints: 0, updated: [], deleted: [], failed: [] };
    const { items } = await this.#o.store.list(workloadEndpointKind);
    for (const wep of items) {
      if (!isK8s(wep) || this.stopped) continue;
      report.endpoints++;
      const namespace = wep.metadata.namespace ?? 'default';
      const podName = (wep.spec as { pod?: string }).pod ?? parseWorkloadEndpointName(wep.metadata.name).pod;
      if (!podName) continue;
      const name = `${namespace}/${wep.metadata.name}`;
      try {
        const pod = this.#o.informer.get(`${namespace}/${podName}`);
        const stale = staleness(wep, pod);
        if (stale) {
          // The informer may lag: ask the API server before deleting anything.
          const fresh = await getObject<PodObject>(this.#o.client, PODS, podName, namespace);
          const why = staleness(wep, fresh);
          if (!why) continue;
          await this.#o.store.delete(wep);
          report.deleted.push(name);
          this.logger.info({ controller: this.name, endpoint: name, reason: why }, 'deleted the endpoint of a pod that is gone');
          continue;
        }
        const next = pod && !pod.spec?.hostNetwork ? endpointFor(wep, pod) : undefined;
        if (next) {
          await this.#o.store.replace(next);
          report.updated.push(name);
        }
      } catch (err) {
        if (hasCode(err, 'MARGAY_ERR_NOT_FOUND')) continue;
        report.failed.push({ name, error: (err as Error).message });
      }
    }
    this.logger.info({ controller: this.name, endpoints: report.endpoints, updated: report.updated.length, deleted: report.deleted.length, failed: report.failed.length }, 'resync');
    this.#o.onResync?.(this.name, report);
    return report;
  }
}
