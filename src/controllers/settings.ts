/**
 * The controllers' settings from the `default` KubeControllersConfiguration, with Calico's
 * defaults: `controllers.node.leakGracePeriod` 15m (Calico's running-config default).
 */
import { kubeControllersConfigurationKind } from '../api/mod.ts';
import { parseGoDuration } from '../api/mod.ts';
import type { ResourceStore } from '../datastore/mod.ts';

/** Calico's default leak grace period: 15 minutes. */
export const DEFAULT_LEAK_GRACE_MS = 15 * 60_000;

/** What the controllers read from the cluster's configuration. */
export interface ControllerSettings {
  /** How long an unused allocation must persist before it is released (0: never, as Calico). */
  leakGraceMs: number;
}

/** Reads the settings; a missing resource or field means the default. */
export async function loadControllerSettings(store: ResourceStore): Promise<ControllerSettings> {
  const res = await store.get(kubeControllersConfigurationKind, 'default');
  const node = ((res?.spec?.controllers as Record<string, unknown> | undefined)?.node ?? {}) as Record<string, unknown>;
  const text = typeof node.leakGracePeriod === 'string' ? node.leakGracePeriod : undefined;
  const seconds = text === undefined ? undefined : parseGoDuration(text);
  return { leakGraceMs: seconds === undefined || seconds < 0 ? DEFAULT_LEAK_GRACE_MS : Math.round(seconds * 1000) };
}

/**
 * How often the GC runs: half the leak grace period, between 1 second and 5 minutes (Calico
 * syncs every leakGracePeriod/2, at most 5 minutes).
 */
export function gcIntervalMs(leakGraceMs: number): number {
  if (leakGraceMs <= 0) return 5 * 60_000;
  return Math.min(5 * 60_000, Math.max(1000, Math.floor(leakGraceMs / 2)));
}
