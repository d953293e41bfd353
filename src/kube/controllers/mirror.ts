/**
 * A controller that mirrors one Kubernetes kind into Calico resources it owns: Namespaces →
 * Profiles `kns.<ns>`, ServiceAccounts → Profiles `ksa.<ns>.<sa>`, NetworkPolicies →
 * NetworkPolicies `knp.default.<name>` (mirrors.ts defines the three).
 *
 * At start, after every relist of the Kubernetes collection, and every reconciler period, a full
 * resync writes the differences between the converted collection and what etcd holds (writer.ts).
 * In between, each change of a Kubernetes object queues its key; the worker converts the object's
 * latest state and writes that one resource.
 */
import type { Resource } from '../../api/mod.ts';
import type { ResourceStore } from '../../datastore/mod.ts';
import type { Logger } from '../../log/mod.ts';
import type { EventRecorder } from '../client/events.ts';
import type { KindPath } from '../client/kinds.ts';
import type { Informer, KubeObject } from '../client/informer.ts';
import { ResyncingController } from './base.ts';
import { reconcileAll, type OwnedSet, type ReconcileReport, syncOne } from './writer.ts';

/** What defines one mirror. */
export interface MirrorSpec<T extends KubeObject> {
  /** The controller's name in logs and in KubeControllersConfiguration (`namespace`…). */
  name: string;
  kind: KindPath;
  owned: OwnedSet;
  /** The Calico resource an informer key (`ns/name` or `name`) maps to. */
  target(key: string): { name: string; namespace?: string };
  /**
   * The desired Calico resource for an object; undefined when none should exist. Throws when the
   * object cannot be converted at all (reported; what etcd holds is left alone). `report` logs a
   * warning and, with `event`, also records a Kubernetes Warning event on the object.
   */
  convert(obj: T, report: Report): Resource | undefined;
  /** Events to ignore (Calico ignores updates of a Terminating namespace). */
  ignore?(obj: T, type: 'added' | 'modified' | 'deleted'): boolean;
}

/** How a conversion reports what it had to leave out. */
export type Report = (fields: Record<string, unknown>, msg: string, event?: { reason: string; message: string }) => void;

/** Options of {@link MirrorController}. */
export interface MirrorOptions<T extends KubeObject> {
  spec: MirrorSpec<T>;
  informer: Informer<T>;
  store: ResourceStore;
  /** Full resync period, ms (0: only at start and after relists). */
  periodMs: number;
  logger?: Logger;
  /** Called after each full resync. */
  onResync?(name: string, report: ReconcileReport): void;
  /** Records the Kubernetes events conversions ask for (none without it). */
  events?: EventRecorder;
}

/** See the module comment. */
export class MirrorController<T extends KubeObject> extends ResyncingController<ReconcileReport> {
  readonly name: string;
  readonly #o: MirrorOptions<T>;

  constructor(options: MirrorOptions<T>) {
    super(options, options.spec.name);
    this.#o = options;
    this.name = options.spec.name;
  }

  /** An informer event for this controller (wired by the runner). */
  onEvent(key: string, obj: T, type: 'added' | 'modified' | 'deleted'): void {
    if (this.stopped || !this.#o.informer.synced) return; // the first list ends with a full resync
    if (this.#o.spec.ignore?.(obj, type)) return;
    this.queue.add(key);
  }

  #convert(obj: T): Resource | undefined {
    const report: Report = (fields, msg, event) => {
      this.logger.warn({ controller: this.name, ...fields }, msg);
      if (event) void this.#o.events?.warning(obj, event.reason, event.message);
    };
    return this.#o.spec.convert(obj, report);
  }

  /** One full resync: everything the informer holds, converted, against etcd. */
  protected async fullResync(): Promise<ReconcileReport> {
    const desired: Resource[] = [];
    for (const [key, obj] of this.#o.informer.store) {
      try {
        const res = this.#convert(obj);
        if (res) desired.push(res);
      } catch (err) {
        // Cannot be converted at all: keep whatever etcd holds for it.
        const t = this.#o.spec.target(key);
        this.logger.error({ controller: this.name, object: key, err: (err as Error).message }, 'cannot convert; left as it is in etcd');
        const held = await this.#o.store.get(this.#o.spec.owned.kind, t.name, t.namespace);
        if (held) desired.push(held);
      }
    }
    const report = await reconcileAll(this.#o.store, this.#o.spec.owned, desired, { logger: this.logger });
    this.logger.info(
      { controller: this.name, desired: desired.length, created: report.created.length, updated: report.updated.length, deleted: report.deleted.length, failed: report.failed.length },
      'resync',
    );
    this.#o.onResync?.(this.name, report);
    return report;
  }

  protected async syncKey(key: string): Promise<void> {
    const obj = this.#o.informer.get(key);
    const target = this.#o.spec.target(key);
    let desired: Resource | undefined;
    try {
      desired = obj ? this.#convert(obj) : undefined;
    } catch (err) {
      this.logger.error({ controller: this.name, object: key, err: (err as Error).message }, 'cannot convert; left as it is in etcd');
      return;
    }
    const outcome = await syncOne(this.#o.store, this.#o.spec.owned, target.name, target.namespace, desired);
    if (outcome !== 'unchanged' && outcome !== 'absent') this.logger.info({ controller: this.name, object: key, resource: target.name, outcome }, 'synced');
  }
}
