/**
 * The VXLAN manager: keeps the latest VXLAN plan from the calculation graph (its VXLAN resolver)
 * and has the VXLAN driver program it when it changed, on a resync, and after a failure.
 */
import type { DataplaneUpdate, VxlanPlan } from '../../calc/mod.ts';
import { noVxlanPlan } from '../../calc/mod.ts';
import type { Manager } from '../manager.ts';
import type { VxlanApplyOutcome, VxlanDriver } from './driver.ts';

/** Options of {@link VxlanManager}. */
export interface VxlanManagerOptions {
  driver: VxlanDriver;
  /** Told (once each) why something is not programmed. */
  warn?: (message: string) => void;
}

/** Holds this host's VXLAN plan and programs it through the driver. */
export class VxlanManager implements Manager {
  readonly #driver: VxlanDriver;
  readonly #warn: ((message: string) => void) | undefined;
  /** The graph sends a plan only once there is VXLAN: until then, none (stale devices are removed). */
  #plan: VxlanPlan = noVxlanPlan();
  #dirty = true;
  #warned = new Set<string>();

  constructor(options: VxlanManagerOptions) {
    this.#driver = options.driver;
    this.#warn = options.warn;
  }

  /** The plan in force. */
  get plan(): VxlanPlan {
    return this.#plan;
  }

  onUpdate(update: DataplaneUpdate): void {
    if (update.type !== 'vxlan-update') return;
    this.#plan = update.plan;
    this.#dirty = true;
  }

  completeDeferredWork(): void {
    if (!this.#dirty) return;
    for (const w of this.#plan.warnings) if (!this.#warned.has(w)) this.#warn?.(w);
    this.#warned = new Set(this.#plan.warnings);
  }

  /**
   * Programs the plan when it changed since the last success, or always with `full` (re-reading
   * the kernel). Undefined when there was nothing to do; never throws.
   */
  async apply(options: { full: boolean }): Promise<VxlanApplyOutcome | undefined> {
    if (!this.#dirty && !options.full) return undefined;
    this.#dirty = false;
    let outcome: VxlanApplyOutcome;
    try {
      outcome = await this.#driver.apply(this.#plan, { force: options.full });
    } catch (err) {
      outcome = { changes: 0, errors: [(err as Error).message], skipped: false };
    }
    if (outcome.errors.length > 0) this.#dirty = true; // retried on the next apply
    return outcome;
  }
}
