/**
 * Which Kubernetes controllers run and how often they resync, from the `default`
 * KubeControllersConfiguration, as calico-kube-controllers reads it: a controller runs when its
 * section is present under `spec.controllers`; with no resource at all, Calico's defaults apply
 * (node, policy, workloadEndpoint, serviceAccount and namespace all on, reconcilerPeriod 5m,
 * node.leakGracePeriod 15m, node.syncLabels Enabled).
 */
import { kubeControllersConfigurationKind } from '../../api/mod.ts';
import { parseGoDuration } from '../../api/mod.ts';
import type { Resource } from '../../api/mod.ts';
import { DEFAULT_LEAK_GRACE_MS } from '../../controllers/mod.ts';
import type { ResourceStore } from '../../datastore/mod.ts';

/** Calico's default reconcilerPeriod: 5 minutes. */
export const DEFAULT_RECONCILER_PERIOD_MS = 5 * 60_000;

/** One controller's settings; absent when it is disabled. */
export interface ControllerPeriod {
  /** Time between full resyncs (0: only at start). */
  reconcilerPeriodMs: number;
}

/** The node controller's settings. */
export interface NodeControllerSettings extends ControllerPeriod {
  leakGraceMs: number;
  syncLabels: boolean;
}

/** What the configuration enables. */
export interface KubeControllersSettings {
  namespace?: ControllerPeriod;
  serviceAccount?: ControllerPeriod;
  policy?: ControllerPeriod;
  workloadEndpoint?: ControllerPeriod;
  node?: NodeControllerSettings;
  /** `spec.logSeverityScreen` as a pino level. */
  logLevel: string;
  /** Whether the resource existed (else: Calico's defaults). */
  fromResource: boolean;
}

function durationMs(value: unknown, dflt: number): number {
  if (typeof value !== 'string') return dflt;
  const s = parseGoDuration(value);
  return s === undefined || s < 0 ? dflt : Math.round(s * 1000);
}

/** The levels the resource's validator admits (Debug … Fatal), as pino levels. */
const LOG_LEVELS: Record<string, string> = { Debug: 'debug', Info: 'info', Warning: 'warn', Error: 'error', Fatal: 'fatal' };

/** The settings a KubeControllersConfiguration (or its absence) means. */
export function settingsFrom(res: Resource | undefined): KubeControllersSettings {
  if (!res) {
    const period = { reconcilerPeriodMs: DEFAULT_RECONCILER_PERIOD_MS };
    return {
      namespace: period,
      serviceAccount: period,
      policy: period,
      workloadEndpoint: period,
      node: { ...period, leakGraceMs: DEFAULT_LEAK_GRACE_MS, syncLabels: true },
      logLevel: 'info',
      fromResource: false,
    };
  }
  const spec = (res.spec ?? {}) as Record<string, unknown>;
  const controllers = (spec.controllers ?? {}) as Record<string, Record<string, unknown> | undefined>;
  const out: KubeControllersSettings = { logLevel: LOG_LEVELS[String(spec.logSeverityScreen ?? 'Info')] ?? 'info', fromResource: true };
  for (const name of ['namespace', 'serviceAccount', 'policy', 'workloadEndpoint'] as const) {
    const section = controllers[name];
    if (section) out[name] = { reconcilerPeriodMs: durationMs(section.reconcilerPeriod, DEFAULT_RECONCILER_PERIOD_MS) };
  }
  const node = controllers.node;
  if (node) {
    out.node = {
      reconcilerPeriodMs: durationMs(node.reconcilerPeriod, DEFAULT_RECONCILER_PERIOD_MS),
      leakGraceMs: durationMs(node.leakGracePeriod, DEFAULT_LEAK_GRACE_MS),
      syncLabels: node.syncLabels !== 'Disabled',
    };
  }
  return out;
}

/** Reads the `default` KubeControllersConfiguration. */
export async function loadKubeControllersSettings(store: ResourceStore): Promise<KubeControllersSettings> {
  return settingsFrom(await store.get(kubeControllersConfigurationKind, 'default'));
}

/** True when two settings differ in anything that needs the controllers restarted. */
export function settingsChanged(a: KubeControllersSettings, b: KubeControllersSettings): boolean {
  const strip = (s: KubeControllersSettings): string => JSON.stringify({ ...s, fromResource: undefined });
  return strip(a) !== strip(b);
}
