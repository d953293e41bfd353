/**
 * List + watch of one Kubernetes collection, kept in memory (what client-go calls a reflector
 * and an informer):
 *
 * 1. List, in pages (`limit`/`continue`); the list's resourceVersion is where the watch starts.
 *    The new list is compared with what was held: handlers get `added`, `modified` (another
 *    resourceVersion) and `deleted` for what vanished, then `synced`.
 * 2. Watch from that resourceVersion with `allowWatchBookmarks=true` and a server-side timeout.
 *    Every event and every BOOKMARK moves the resourceVersion on, so a watch that ends (the
 *    timeout, a dropped connection, an API server restart) is opened again from where it was,
 *    without a list.
 * 3. A watch (or a paged list) answered with 410 Gone (the resourceVersion is older than the
 *    server keeps) starts again at 1: a full relist.
 *
 * Errors other than 410 are retried with a backoff (200 ms doubling to 5 s), and never lose what
 * is held: the store stays as it was until the next list or event replaces it.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { hasCode } from '../../errors/mod.ts';
import { type Logger, silentLogger } from '../../log/mod.ts';
import { statusError, type KubeClient, type WatchStream } from './http.ts';

/** The parts of a Kubernetes object every informer reads. */
export interface KubeObject {
  apiVersion?: string;
  kind?: string;
  metadata: {
    name: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    labels?: Record<string, string>;
    annotations?: Record<string, string>;
    deletionTimestamp?: string | null;
    [key: string]: unknown;
  };
  [key: string]: unknown;
}

/** A change the informer saw (or derived from a relist). */
export interface InformerEvent<T extends KubeObject> {
  type: 'added' | 'modified' | 'deleted';
  object: T;
  /** The object held before (modified, deleted). */
  previous?: T;
}

/** Counters, for tests and metrics. */
export interface InformerStats {
  lists: number;
  watches: number;
  bookmarks: number;
  /** 410 Gone answers that forced a relist. */
  expired: number;
  events: number;
  errors: number;
}

/** Options of {@link Informer}. */
export interface InformerOptions<T extends KubeObject> {
  client: KubeClient;
  /** The collection, e.g. `/api/v1/pods` or `/apis/networking.k8s.io/v1/networkpolicies`. */
  path: string;
  /** `apiVersion` and `kind` of the items (lists leave them out of each item). */
  apiVersion: string;
  kind: string;
  /** Called for each change, in order. Exceptions are logged, not propagated. */
  onEvent?(event: InformerEvent<T>): void;
  /** Called after every list has been applied (first sync and relists). */
  onSynced?(): void;
  /** Items per list page (default 500). */
  pageSize?: number;
  /** The server-side watch timeout for each watch, seconds (default: 300–600, random). */
  watchTimeoutSeconds?: () => number;
  /** Backoff after an error: first and largest wait, ms (default 200 and 5000). */
  backoffMs?: { initial: number; max: number };
  logger?: Logger;
}

/** The store key of an object: `namespace/name`, or `name` for cluster-wide kinds. */
export function objectKey(obj: KubeObject): string {
  return obj.metadata.namespace ? `${obj.metadata.namespace}/${obj.metadata.name}` : obj.metadata.name;
}

interface ListPage<T> {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: T[];
}

interface RawEvent {
  type?: string;
  object?: KubeObject;
}

/** One collection, listed and watched. */
export class Informer<T extends KubeObject> {
  readonly store = new Map<string, T>();
  readonly stats: InformerStats = { lists: 0, watches: 0, bookmarks: 0, expired: 0, events: 0, errors: 0 };
  readonly #options: InformerOptions<T>;
  readonly #logger: Logger;
  #resourceVersion: string | undefined;
  #stop: AbortController | undefined;
  #stream: WatchStream | undefined;
  #loop: Promise<void> | undefined;
  #synced = false;
  #syncWaiters: (() => void)[] = [];

  constructor(options: InformerOptions<T>) {
    this.#options = options;
    this.#logger = options.logger ?? silentLogger();
  }

  /** The resourceVersion the next watch starts from; undefined before the first list. */
  get resourceVersion(): string | undefined {
    return this.#resourceVersion;
  }

  /** True once a list has been applied. */
  get synced(): boolean {
    return this.#synced;
  }

  /** Starts (or resumes, from the last resourceVersion held) listing and watching. */
  start(): void {
    if (this.#loop) return;
    const stop = new AbortController();
    this.#stop = stop;
    this.#loop = this.#run(stop.signal);
  }

  /** Stops watching; the store and the resourceVersion are kept for a later {@link start}. */
  async stop(): Promise<void> {
    this.#stop?.abort();
    this.#stream?.close();
    await this.#loop;
    this.#loop = undefined;
  }

  /** Resolves once the first list has been applied (or `signal` aborts). */
  waitSynced(signal?: AbortSignal): Promise<void> {
    if (this.#synced) return Promise.resolve();
    return new Promise((resolve) => {
      this.#syncWaiters.push(resolve);
      signal?.addEventListener('abort', () => resolve(), { once: true });
    });
  }

  /** The object with this key (`namespace/name` or `name`). */
  get(key: string): T | undefined {
    return this.store.get(key);
  }

  async #run(signal: AbortSignal): Promise<void> {
    const backoff = this.#options.backoffMs ?? { initial: 200, max: 5000 };
    let wait = backoff.initial;
    while (!signal.aborted) {
      try {
        if (this.#resourceVersion === undefined) await this.#relist(signal);
        if (signal.aborted) break;
        await this.#watch(signal);
        wait = backoff.initial;
      } catch (err) {
        if (signal.aborted) break;
        if (hasCode(err, 'MARGAY_ERR_COMPACTED')) {
          this.stats.expired++;
          this.#logger.info({ collection: this.#options.path, resourceVersion: this.#resourceVersion, err: (err as Error).message }, 'watch expired (410 Gone); listing again');
          this.#resourceVersion = undefined;
          continue;
        }
        this.stats.errors++;
        this.#logger.warn({ collection: this.#options.path, err: (err as Error).message, retryInMs: wait }, 'list/watch failed; retrying');
        try {
          await delay(wait, undefined, { signal });
        } catch {
          break;
        }
        wait = Math.min(backoff.max, wait * 2);
      }
    }
  }

  /** Completes an item (lists leave out apiVersion and kind) and drops `managedFields`, which no controller reads and which is often a third of an object. */
  #typed(obj: T): T {
    if (obj.apiVersion === undefined) obj.apiVersion = this.#options.apiVersion;
    if (obj.kind === undefined) obj.kind = this.#options.kind;
    delete obj.metadata.managedFields;
    return obj;
  }

  #emit(event: InformerEvent<T>): void {
    this.stats.events++;
    try {
      this.#options.onEvent?.(event);
    } catch (err) {
      this.#logger.error({ collection: this.#options.path, key: objectKey(event.object), err: (err as Error).message }, 'informer handler failed');
    }
  }

  async #relist(signal: AbortSignal): Promise<void> {
    const pageSize = this.#options.pageSize ?? 500;
    const items: T[] = [];
    let cont: string | undefined;
    let version: string | undefined;
    do {
      const query = new URLSearchParams({ limit: String(pageSize) });
      if (cont) query.set('continue', cont);
      const page = await this.#options.client.get<ListPage<T>>(`${this.#options.path}?${query}`, { signal, timeoutMs: 60_000 });
      for (const item of page.items ?? []) items.push(this.#typed(item));
      version ??= page.metadata?.resourceVersion;
      cont = page.metadata?.continue || undefined;
    } while (cont && !signal.aborted);
    if (signal.aborted) return;
    this.stats.lists++;
    const seen = new Set<string>();
    for (const obj of items) {
      const key = objectKey(obj);
      seen.add(key);
      const previous = this.store.get(key);
      this.store.set(key, obj);
      if (!previous) this.#emit({ type: 'added', object: obj });
      else if (previous.metadata.resourceVersion !== obj.metadata.resourceVersion) this.#emit({ type: 'modified', object: obj, previous });
    }
    for (const [key, previous] of [...this.store]) {
      if (seen.has(key)) continue;
      this.store.delete(key);
      this.#emit({ type: 'deleted', object: previous, previous });
    }
    this.#resourceVersion = version ?? '0';
    this.#synced = true;
    for (const w of this.#syncWaiters.splice(0)) w();
    try {
      this.#options.onSynced?.();
    } catch (err) {
      this.#logger.error({ collection: this.#options.path, err: (err as Error).message }, 'informer sync handler failed');
    }
  }

  async #watch(signal: AbortSignal): Promise<void> {
    const timeoutSeconds = this.#options.watchTimeoutSeconds?.() ?? 300 + Math.floor(Math.random() * 300);
    const query = new URLSearchParams({
      watch: '1',
      allowWatchBookmarks: 'true',
      resourceVersion: this.#resourceVersion ?? '0',
      timeoutSeconds: String(timeoutSeconds),
    });
    // The socket may stay quiet until the server's timeout; allow some slack past it.
    const stream = await this.#options.client.watch(`${this.#options.path}?${query}`, { timeoutMs: (timeoutSeconds + 30) * 1000, signal });
    this.#stream = stream;
    this.stats.watches++;
    try {
      for await (const raw of stream) {
        const ev = raw as RawEvent;
        if (ev.type === 'ERROR') throw statusError(0, ev.object, `watch ${this.#options.path}`);
        const obj = ev.object;
        if (!obj?.metadata) continue;
        if (ev.type === 'BOOKMARK') {
          this.stats.bookmarks++;
          if (obj.metadata.resourceVersion) this.#resourceVersion = obj.metadata.resourceVersion;
          continue;
        }
        this.#apply(ev.type, this.#typed(obj as T));
        if (obj.metadata.resourceVersion) this.#resourceVersion = obj.metadata.resourceVersion;
      }
    } finally {
      this.#stream = undefined;
      stream.close();
    }
  }

  #apply(type: string | undefined, obj: T): void {
    const key = objectKey(obj);
    const previous = this.store.get(key);
    if (type === 'DELETED') {
      this.store.delete(key);
      this.#emit({ type: 'deleted', object: obj, ...(previous ? { previous } : {}) });
      return;
    }
    if (type !== 'ADDED' && type !== 'MODIFIED') return;
    this.store.set(key, obj);
    this.#emit(previous ? { type: 'modified', object: obj, previous } : { type: 'added', object: obj });
  }
}
