/**
 * Kubernetes Events about objects the controllers read, so that `kubectl describe` shows what
 * Margay did with them (a NetworkPolicy rule it could not convert). Events are best effort, as
 * client-go's recorder makes them: posted in the background, never retried, never failing the
 * caller; a refusal (no RBAC for `events`, say) is logged once.
 */
import { randomBytes } from 'node:crypto';
import { type Logger, silentLogger } from '../../log/mod.ts';
import type { KubeClient } from './http.ts';
import type { KubeObject } from './informer.ts';

/** The `source.component` of Margay's events. */
export const EVENT_COMPONENT = 'margay-kube-controllers';

/** Options of {@link EventRecorder}. */
export interface EventRecorderOptions {
  client: KubeClient;
  logger?: Logger;
  /** Wall clock for the event's timestamps (default Date.now). */
  now?: () => number;
}

/** The v1 Event for `obj`. */
export function eventFor(obj: KubeObject, type: 'Normal' | 'Warning', reason: string, message: string, at: Date): Record<string, unknown> {
  const namespace = obj.metadata.namespace ?? 'default';
  const time = at.toISOString().replace(/\.\d+Z$/, 'Z');
  return {
    apiVersion: 'v1',
    kind: 'Event',
    metadata: { name: `${obj.metadata.name}.${randomBytes(8).toString('hex')}`, namespace },
    involvedObject: {
      apiVersion: obj.apiVersion,
      kind: obj.kind,
      namespace: obj.metadata.namespace,
      name: obj.metadata.name,
      uid: obj.metadata.uid,
      resourceVersion: obj.metadata.resourceVersion,
    },
    type,
    reason,
    // The API server refuses messages over 1 KiB.
    message: message.length > 1024 ? `${message.slice(0, 1021)}...` : message,
    source: { component: EVENT_COMPONENT },
    firstTimestamp: time,
    lastTimestamp: time,
    count: 1,
  };
}

/** Posts Events in the background (module comment). */
export class EventRecorder {
  readonly #o: EventRecorderOptions;
  readonly #logger: Logger;
  #warned = false;

  constructor(options: EventRecorderOptions) {
    this.#o = options;
    this.#logger = options.logger ?? silentLogger();
  }

  /** Records a Warning event about `obj`; returns once it was posted or refused (callers need not wait). */
  async warning(obj: KubeObject, reason: string, message: string): Promise<void> {
    const event = eventFor(obj, 'Warning', reason, message, new Date((this.#o.now ?? Date.now)()));
    const namespace = obj.metadata.namespace ?? 'default';
    try {
      await this.#o.client.request('POST', `/api/v1/namespaces/${encodeURIComponent(namespace)}/events`, { body: event, timeoutMs: 5000 });
    } catch (err) {
      if (!this.#warned) this.#logger.warn({ err: (err as Error).message }, 'cannot post Kubernetes events (does the role allow creating events?); reporting in the log only');
      this.#warned = true;
    }
  }
}
