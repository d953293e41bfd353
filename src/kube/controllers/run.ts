/**
 * The `margay kube-controllers` process: one active per cluster (an etcd lease, the leader
 * election of src/controllers/leader.ts under its own key). The leader reads the `default`
 * KubeControllersConfiguration, starts an informer per Kubernetes kind the enabled controllers
 * need (shared between them), and the controllers themselves; it reads the configuration again
 * every `configPollMs` and, when it changed, stops the controllers and starts the new set, as
 * calico-kube-controllers restarts on a configuration change. Losing leadership stops everything
 * and campaigns again.
 */
import { hostname } from 'node:os';
import { campaign, type GcPassReport, pause } from '../../controllers/mod.ts';
import { type Logger, silentLogger } from '../../log/mod.ts';
import { type Datastore, KUBE_LEADER_KEY, ResourceStore } from '../../datastore/mod.ts';
import type { KubeClient } from '../client/http.ts';
import { EventRecorder } from '../client/events.ts';
import { Informer, type KubeObject } from '../client/informer.ts';
import { type KindPath, NODES, PODS, type PodObject } from '../client/kinds.ts';
import { EndpointController } from './endpoints.ts';
import { MirrorController, type MirrorSpec } from './mirror.ts';
import { namespaceMirror, policyMirror, serviceAccountMirror } from './mirrors.ts';
import { NodeController } from './nodes.ts';
import { type KubeControllersSettings, loadKubeControllersSettings, settingsChanged } from './settings.ts';

/** The key the kube-controllers leader holds. */
export { KUBE_LEADER_KEY };

/** Options of {@link startKubeControllers}. */
export interface KubeControllersOptions {
  datastore: Datastore;
  client: KubeClient;
  /** Who this process is in the election (default `<hostname>-<pid>`). */
  identity?: string;
  leaseTtlSeconds?: number;
  pollMs?: number;
  /** How often the KubeControllersConfiguration is read again, ms (default 30000). */
  configPollMs?: number;
  /** Time between IPAM GC passes (default: from the leak grace period). */
  gcIntervalMs?: number;
  /** Server-side watch timeout of each watch, seconds (default 300–600). */
  watchTimeoutSeconds?: () => number;
  logger?: Logger;
  /** Called after each full resync of a controller. */
  onResync?(controller: string, report: unknown): void;
  onGcPass?(report: GcPassReport): void;
}

/** A running kube-controllers process. */
export interface RunningKubeControllers {
  isLeader(): boolean;
  /** The controllers running now (`namespace`, `policy`…). */
  running(): string[];
  /** Resolves once this process leads and every enabled controller finished its first resync. */
  ready(): Promise<void>;
  /** Resolves once no single-object sync is pending in any controller. */
  idle(): Promise<void>;
  stop(): Promise<void>;
  readonly done: Promise<void>;
}

interface Controller {
  readonly name: string;
  start(): Promise<void>;
  stop(): Promise<void>;
  idle(): Promise<void>;
}

/** The informers and controllers of one configuration. */
class ActiveSet {
  readonly informers = new Map<string, Informer<KubeObject>>();
  readonly controllers: Controller[] = [];
  readonly started: Promise<void>;
  readonly #stop = new AbortController();

  constructor(readonly settings: KubeControllersSettings, o: KubeControllersOptions, store: ResourceStore, logger: Logger) {
    type Handler = (key: string, obj: KubeObject, type: 'added' | 'modified' | 'deleted', previous?: KubeObject) => void;
    const handlers = new Map<string, Handler[]>();
    // One informer per kind, shared by the controllers that need it.
    const informer = <T extends KubeObject>(kind: KindPath, onEvent: (key: string, obj: T, type: 'added' | 'modified' | 'deleted', previous?: T) => void): Informer<T> => {
      const list = handlers.get(kind.path) ?? [];
      handlers.set(kind.path, list);
      list.push(onEvent as Handler);
      let inf = this.informers.get(kind.path);
      if (!inf) {
        inf = new Informer<KubeObject>({
          client: o.client,
          path: kind.path,
          apiVersion: kind.apiVersion,
          kind: kind.kind,
          logger,
          ...(o.watchTimeoutSeconds ? { watchTimeoutSeconds: o.watchTimeoutSeconds } : {}),
          onEvent: (e) => {
            const key = e.object.metadata.namespace ? `${e.object.metadata.namespace}/${e.object.metadata.name}` : e.object.metadata.name;
            for (const h of list) h(key, e.object, e.type, e.previous);
          },
        });
        this.informers.set(kind.path, inf);
      }
      return inf as Informer<T>;
    };
    const onResync = (name: string, report: unknown): void => o.onResync?.(name, report);
    const events = new EventRecorder({ client: o.client, logger });
    const mirrors: [MirrorSpec<KubeObject>, keyof KubeControllersSettings][] = [
      [namespaceMirror, 'namespace'],
      [serviceAccountMirror, 'serviceAccount'],
      [policyMirror, 'policy'],
    ];
    for (const [spec, key] of mirrors) {
      const s = settings[key] as { reconcilerPeriodMs: number } | undefined;
      if (!s) continue;
      let controller: MirrorController<KubeObject> | undefined;
      const inf = informer<KubeObject>(spec.kind, (k, obj, type) => controller?.onEvent(k, obj, type));
      controller = new MirrorController({ spec, informer: inf, store, periodMs: s.reconcilerPeriodMs, logger, onResync, events });
      this.controllers.push(controller);
    }
    const needPods = settings.workloadEndpoint !== undefined || settings.node !== undefined;
    let endpoints: EndpointController | undefined;
    const pods = needPods ? informer<PodObject>(PODS, (k, pod, type, prev) => endpoints?.onEvent(k, pod, type, prev)) : undefined;
    if (settings.workloadEndpoint && pods) {
      endpoints = new EndpointController({ informer: pods, store, client: o.client, periodMs: settings.workloadEndpoint.reconcilerPeriodMs, logger, onResync });
      this.controllers.push(endpoints);
    }
    if (settings.node) {
      let nodes: NodeController | undefined;
      const nodeInformer = informer<KubeObject>(NODES, (k, n, type, prev) => nodes?.onEvent(k, n, type, prev));
      nodes = new NodeController({
        nodes: nodeInformer,
        ...(pods ? { pods } : {}),
        datastore: o.datastore,
        store,
        client: o.client,
        periodMs: settings.node.reconcilerPeriodMs,
        leakGraceMs: settings.node.leakGraceMs,
        syncLabels: settings.node.syncLabels,
        ...(o.gcIntervalMs === undefined ? {} : { gcIntervalMs: o.gcIntervalMs }),
        logger,
        onResync,
        ...(o.onGcPass ? { onGcPass: o.onGcPass } : {}),
      });
      this.controllers.push(nodes);
    }
    for (const inf of this.informers.values()) inf.start();
    const signal = this.#stop.signal;
    // Each controller starts (its first full resync) once every informer has listed.
    this.started = (async () => {
      await Promise.all([...this.informers.values()].map((inf) => inf.waitSynced(signal)));
      if (signal.aborted) return;
      await Promise.all(this.controllers.map((c) => c.start().catch((err: Error) => logger.warn({ controller: c.name, err: err.message }, 'first resync failed; the next one retries'))));
    })();
  }

  async stop(): Promise<void> {
    this.#stop.abort();
    await Promise.all([...this.informers.values()].map((inf) => inf.stop()));
    await this.started;
    await Promise.all(this.controllers.map((c) => c.stop()));
  }
}

/** Starts the kube-controllers process (module comment). */
export function startKubeControllers(options: KubeControllersOptions): RunningKubeControllers {
  const logger = options.logger ?? silentLogger();
  const identity = options.identity ?? `${hostname()}-${process.pid}`;
  const store = new ResourceStore(options.datastore);
  const stop = new AbortController();
  let active: ActiveSet | undefined;
  let leader = false;
  let readyWaiters: (() => void)[] = [];
  const done = (async () => {
    const election = {
      datastore: options.datastore,
      identity,
      key: KUBE_LEADER_KEY,
      ...(options.leaseTtlSeconds === undefined ? {} : { ttlSeconds: options.leaseTtlSeconds }),
      ...(options.pollMs === undefined ? {} : { pollMs: options.pollMs }),
      logger,
    };
    await campaign(election, stop.signal, async (leadership) => {
      leader = true;
      logger.info({ identity }, 'became the leader; starting the Kubernetes controllers');
      const signals = [stop.signal, leadership.signal];
      while (!stop.signal.aborted && !leadership.signal.aborted) {
        let settings: KubeControllersSettings;
        try {
          settings = await loadKubeControllersSettings(store);
        } catch (err) {
          logger.warn({ err: (err as Error).message }, 'cannot read KubeControllersConfiguration; retrying');
          await pause(2000, signals);
          continue;
        }
        if (!active || settingsChanged(active.settings, settings)) {
          if (active) logger.info({}, 'KubeControllersConfiguration changed; restarting the controllers');
          await active?.stop();
          active = new ActiveSet(settings, options, store, logger);
          logger.info({ controllers: active.controllers.map((c) => c.name) }, 'controllers starting');
          const started = active;
          void started.started.then(() => {
            if (active === started) for (const w of readyWaiters.splice(0)) w();
          });
        }
        await pause(options.configPollMs ?? 30_000, signals);
      }
      leader = false;
      await active?.stop();
      active = undefined;
    });
    logger.info({ identity }, 'kube-controllers stopped');
  })();
  return {
    isLeader: () => leader,
    running: () => active?.controllers.map((c) => c.name) ?? [],
    ready: () =>
      new Promise<void>((resolve) => {
        if (active) void active.started.then(resolve);
        else readyWaiters.push(resolve);
      }),
    idle: async () => {
      await Promise.all(active?.controllers.map((c) => c.idle()) ?? []);
    },
    async stop() {
      stop.abort();
      await done;
      readyWaiters = [];
    },
    done,
  };
}
