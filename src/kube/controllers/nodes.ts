/**
 * The node controller, as calico-kube-controllers' in etcd mode:
 *
 * - **Node deletion.** A Margay Node belongs to Kubernetes when its `spec.orchRefs` has an entry
 *   of orchestrator `k8s` (its `nodeName` is the Kubernetes node's), or, for a Node without
 *   orchRefs, when a Kubernetes Node of the same name was seen and then deleted. When that
 *   Kubernetes Node is gone (confirmed by a GET), the Margay Node is deleted; the IPAM garbage
 *   collection then releases its block affinities and its addresses (ownership rule 3,
 *   `node-missing`). A sweep at start and every reconciler period catches deletions missed while
 *   the controller was down (for Nodes with orchRefs).
 * - **Labels** (`syncLabels`): the Kubernetes Node's labels are copied onto the Margay Node; the
 *   annotation `projectcalico.org/kube-labels` remembers which labels came from Kubernetes, so a
 *   label removed there is removed here, and labels set by others stay.
 * - **IPAM garbage collection** (src/controllers/ipam-gc/) with the pod oracle: an allocation
 *   naming a pod that no longer exists (or runs elsewhere, or reports other addresses) is a leak
 *   candidate; it is released after the leak grace period, after one more GET of the pod.
 */
import { MAX_TIMER_MS } from '../../os/mod.ts';
import { nodeKind } from '../../api/mod.ts';
import type { Resource } from '../../api/mod.ts';
import { IpamGarbageCollector, type GcPassReport, type PodOracle, gcIntervalMs } from '../../controllers/mod.ts';
import type { Datastore, ResourceStore } from '../../datastore/mod.ts';
import { hasCode } from '../../errors/mod.ts';
import { canonicalIp } from '../../net/mod.ts';
import type { PodFacts, PodLookup } from '../../ipam/mod.ts';
import { type Logger, silentLogger } from '../../log/mod.ts';
import type { KubeClient } from '../client/http.ts';
import type { Informer, KubeObject } from '../client/informer.ts';
import { getObject, NODES, PODS, type PodObject } from '../client/kinds.ts';
import { KeyedQueue } from './queue.ts';

/** The annotation that lists the labels copied from the Kubernetes Node (Calico's). */
export const KUBE_LABELS_ANNOTATION = 'projectcalico.org/kube-labels';

/** Options of {@link NodeController}. */
export interface NodeControllerOptions {
  nodes: Informer<KubeObject>;
  /** The pod informer, for the GC's pod oracle (undefined: the GC runs without it). */
  pods?: Informer<PodObject>;
  datastore: Datastore;
  store: ResourceStore;
  client: KubeClient;
  periodMs: number;
  leakGraceMs: number;
  syncLabels: boolean;
  /** Time between GC passes (default: half the leak grace period, 1 s – 5 min). */
  gcIntervalMs?: number;
  logger?: Logger;
  onGcPass?(report: GcPassReport): void;
  onResync?(name: string, report: { deleted: string[]; labelled: string[] }): void;
}

/** The Kubernetes node a Margay Node stands for, or undefined when it is not a Kubernetes node. */
export function kubernetesNodeName(node: Resource): string | undefined {
  const refs = (node.spec as { orchRefs?: { orchestrator: string; nodeName?: string }[] } | undefined)?.orchRefs ?? [];
  const ref = refs.find((r) => r.orchestrator === 'k8s');
  return ref?.nodeName || undefined;
}

function hasOrchRefs(node: Resource): boolean {
  return ((node.spec as { orchRefs?: unknown[] } | undefined)?.orchRefs ?? []).length > 0;
}

/** The Margay Node with `labels` from Kubernetes, or undefined when nothing changes. */
export function withKubeLabels(node: Resource, labels: Record<string, string>): Resource | undefined {
  const annotations = { ...(node.metadata.annotations ?? {}) };
  let previous: string[] = [];
  try {
    previous = Object.keys(JSON.parse(annotations[KUBE_LABELS_ANNOTATION] ?? '{}') as Record<string, string>);
  } catch {
    previous = [];
  }
  const merged = { ...(node.metadata.labels ?? {}) };
  for (const k of previous) if (!(k in labels)) delete merged[k];
  Object.assign(merged, labels);
  annotations[KUBE_LABELS_ANNOTATION] = JSON.stringify(Object.fromEntries(Object.keys(labels).sort().map((k) => [k, labels[k]])));
  const same = JSON.stringify(merged) === JSON.stringify(node.metadata.labels ?? {}) && annotations[KUBE_LABELS_ANNOTATION] === node.metadata.annotations?.[KUBE_LABELS_ANNOTATION];
  return same ? undefined : { ...node, metadata: { ...node.metadata, labels: merged, annotations } };
}

/** What the pod oracle knows about one pod object (or its absence). */
export function podFacts(pod: PodObject | undefined): PodFacts {
  if (!pod) return { exists: false };
  const ips = (pod.status?.podIPs ?? []).map((p) => canonicalIp(p.ip) ?? p.ip);
  if (ips.length === 0 && pod.status?.podIP) ips.push(canonicalIp(pod.status.podIP) ?? pod.status.podIP);
  return {
    exists: true,
    ...(pod.spec?.nodeName ? { node: pod.spec.nodeName } : {}),
    ...(ips.length > 0 ? { ips } : {}),
    ...(pod.status?.phase === 'Failed' && pod.status.reason === 'Evicted' ? { evicted: true } : {}),
  };
}

/** The GC's pod oracle over the pod informer, with fresh GETs before releases. */
export function podOracle(pods: Informer<PodObject>, client: KubeClient): PodOracle {
  const lookup: PodLookup = (namespace, pod) => (pods.synced ? podFacts(pods.get(`${namespace}/${pod}`)) : undefined);
  return {
    lookup,
    async refresh(list) {
      const fresh = new Map<string, PodFacts | undefined>();
      await Promise.all(
        [...new Set(list.map((p) => `${p.namespace}/${p.pod}`))].map(async (key) => {
          const [namespace, name] = [key.slice(0, key.indexOf('/')), key.slice(key.indexOf('/') + 1)];
          try {
            fresh.set(key, podFacts(await getObject<PodObject>(client, PODS, name, namespace)));
          } catch {
            fresh.set(key, undefined); // cannot tell: the allocation is kept
          }
        }),
      );
      return (namespace, pod) => (fresh.has(`${namespace}/${pod}`) ? fresh.get(`${namespace}/${pod}`) : lookup(namespace, pod));
    },
  };
}

/** See the module comment. */
export class NodeController {
  readonly name = 'node';
  readonly #o: NodeControllerOptions;
  readonly #logger: Logger;
  readonly #queue: KeyedQueue;
  readonly #gc: IpamGarbageCollector;
  /** Kubernetes nodes seen (to recognise Margay Nodes without orchRefs when theirs is deleted). */
  readonly #seen = new Set<string>();
  #timers: NodeJS.Timeout[] = [];
  #stopped = false;
  #gcRunning: Promise<void> | undefined;
  #gcAgain = false;

  constructor(options: NodeControllerOptions) {
    this.#o = options;
    this.#logger = options.logger ?? silentLogger();
    this.#queue = new KeyedQueue((name) => this.#syncNode(name), { logger: this.#logger, what: 'node' });
    this.#gc = new IpamGarbageCollector({
      datastore: options.datastore,
      leakGraceMs: options.leakGraceMs,
      logger: this.#logger,
      ...(options.pods ? { pods: podOracle(options.pods, options.client) } : {}),
    });
  }

  /** A Kubernetes Node event. */
  onEvent(name: string, node: KubeObject, type: 'added' | 'modified' | 'deleted', previous?: KubeObject): void {
    if (this.#stopped) return;
    if (type !== 'deleted') this.#seen.add(name);
    if (!this.#o.nodes.synced) return;
    if (type === 'modified' && JSON.stringify(previous?.metadata.labels ?? {}) === JSON.stringify(node.metadata.labels ?? {})) return;
    this.#queue.add(name);
  }

  /** The sweep and a GC pass now, then every period (also when the first sweep failed). */
  async start(): Promise<void> {
    for (const name of this.#o.nodes.store.keys()) this.#seen.add(name);
    if (this.#o.periodMs > 0) this.#timers.push(setInterval(() => void this.resync().catch(() => {}), Math.min(this.#o.periodMs, MAX_TIMER_MS)));
    this.#timers.push(setInterval(() => this.#runGc(), Math.min(this.#o.gcIntervalMs ?? gcIntervalMs(this.#o.leakGraceMs), MAX_TIMER_MS)));
    this.#runGc();
    await this.resync();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers) clearInterval(t);
    await this.#queue.stop();
    await this.#gcRunning;
  }

  idle(): Promise<void> {
    return this.#queue.idle();
  }

  /** Runs a GC pass now (one at a time; a request during a pass runs one more after it). */
  #runGc(): void {
    if (this.#stopped) return;
    if (this.#gcRunning) {
      this.#gcAgain = true;
      return;
    }
    this.#gcRunning = (async () => {
      try {
        const report = await this.#gc.runPass();
        const o = report.outcome;
        if (o.released.length + o.affinitiesReleased.length + o.blocksDeleted.length > 0) {
          this.#logger.info({ controller: this.name, released: o.released.length, affinitiesReleased: o.affinitiesReleased.length, candidates: report.plan.stats.candidates }, 'IPAM garbage collection pass');
        }
        this.#o.onGcPass?.(report);
      } catch (err) {
        this.#logger.warn({ controller: this.name, err: (err as Error).message }, 'IPAM garbage collection pass failed; retrying');
      } finally {
        this.#gcRunning = undefined;
        if (this.#gcAgain) {
          this.#gcAgain = false;
          this.#runGc();
        }
      }
    })();
  }

  /** The Margay Nodes that stand for the Kubernetes node `name`. */
  #margayNodesOf(name: string, all: Resource[]): Resource[] {
    return all.filter((n) => kubernetesNodeName(n) === name || (!hasOrchRefs(n) && n.metadata.name === name && this.#seen.has(name)));
  }

  async #syncNode(name: string): Promise<void> {
    const all = (await this.#o.store.list(nodeKind)).items;
    const mine = this.#margayNodesOf(name, all);
    if (mine.length === 0) return;
    const k8s = this.#o.nodes.get(name) ?? (await getObject(this.#o.client, NODES, name));
    if (!k8s) {
      for (const node of mine) await this.#deleteNode(node, name);
      this.#runGc();
      return;
    }
    if (this.#o.syncLabels) for (const node of mine) await this.#label(node, k8s);
  }

  async #deleteNode(node: Resource, k8sName: string): Promise<boolean> {
    if (await getObject(this.#o.client, NODES, k8sName)) return false; // came back
    try {
      await this.#o.store.delete(node);
    } catch (err) {
      if (hasCode(err, 'MARGAY_ERR_NOT_FOUND')) return false;
      throw err;
    }
    this.#logger.info({ controller: this.name, node: node.metadata.name, kubernetesNode: k8sName }, 'deleted the Node of a deleted Kubernetes node; IPAM GC releases its blocks and addresses');
    return true;
  }

  async #label(node: Resource, k8s: KubeObject): Promise<boolean> {
    const next = withKubeLabels(node, k8s.metadata.labels ?? {});
    if (!next) return false;
    await this.#o.store.replace(next);
    return true;
  }

  /** The sweep: Margay Nodes of Kubernetes nodes that are gone, and labels. */
  async resync(): Promise<{ deleted: string[]; labelled: string[] }> {
    const report = { deleted: [] as string[], labelled: [] as string[] };
    for (const node of (await this.#o.store.list(nodeKind)).items) {
      if (this.#stopped) break;
      const k8sName = kubernetesNodeName(node) ?? (!hasOrchRefs(node) && this.#seen.has(node.metadata.name) ? node.metadata.name : undefined);
      if (!k8sName) continue;
      try {
        const k8s = this.#o.nodes.get(k8sName);
        if (!k8s) {
          if (kubernetesNodeName(node) && (await this.#deleteNode(node, k8sName))) report.deleted.push(node.metadata.name);
        } else if (this.#o.syncLabels && (await this.#label(node, k8s))) {
          report.labelled.push(node.metadata.name);
        }
      } catch (err) {
        this.#logger.warn({ controller: this.name, node: node.metadata.name, err: (err as Error).message }, 'node sync failed; the next resync retries');
      }
    }
    if (report.deleted.length > 0) this.#runGc();
    this.#o.onResync?.(this.name, report);
    return report;
  }
}
