/**
 * The nftables manager: the managers of the table `inet margay`, each rendering what it manages
 * into the table they share (table.ts), in dependency order:
 *
 * ```
 * DataplaneUpdate ─▶ IpSetsManager        (ipset-*: named sets; a shape change re-renders users)
 *                 ─▶ PolicyManager        (policy-*: pi-/po- chains)
 *                 ─▶ EndpointManager      (workload-*, host-endpoint-*: endpoint chains, dispatch maps)
 *                 ─▶ StaticChainsManager  (settings, wildcard host endpoints: base, dispatch, failsafe, NAT)
 *                 ─▶ FloatingIpManager    (workload-*: floating IP DNAT/SNAT chains)
 *                         │ completeDeferredWork(), in that order; then placeholders resolved
 *                         ▼
 *                 the desired table ─▶ NftablesDriver (diffs the dirty names against the kernel)
 * ```
 *
 * A `settings` message re-renders everything (families, prefixes and the log prefix shape every
 * rule). Robustness against a caller that breaks the ordering contract: a chain or set that a
 * rule refers to but nobody defines (a policy not yet sent, an IP set already removed) is created
 * empty as a placeholder, so the transaction stays valid. An empty policy chain matches nothing
 * (the end-of-tier drop applies) and an empty set matches no address, so a missing piece fails
 * closed for allow rules.
 */
import type { DataplaneSettings, DataplaneUpdate } from '../../calc/mod.ts';
import type { Manager } from '../manager.ts';
import { EndpointManager } from './endpoint-manager.ts';
import { FloatingIpManager } from './fip-manager.ts';
import { IpSetsManager } from './ipsets-manager.ts';
import { PolicyManager } from './policy-manager.ts';
import { DEFAULT_MARKS, validateMarks, type MarkBits } from './settings.ts';
import type { DesiredState, DirtyNames } from './state.ts';
import { StaticChainsManager } from './static-manager.ts';
import { NftTable } from './table.ts';

/** Options of {@link NftablesManager}. */
export interface NftablesManagerOptions {
  marks?: MarkBits;
  /** Called with a one-line message when input is ignored or repaired. */
  warn?: (message: string) => void;
}

/** Records dataplane updates and renders them into the desired table contents. */
export class NftablesManager implements Manager {
  readonly #table: NftTable;
  readonly #ipSets: IpSetsManager;
  readonly #policies: PolicyManager;
  readonly #endpoints: EndpointManager;
  readonly #statics: StaticChainsManager;
  readonly #floatingIps: FloatingIpManager;
  #settingsDirty = true;

  constructor(options: NftablesManagerOptions = {}) {
    const marks = options.marks ?? DEFAULT_MARKS;
    validateMarks(marks);
    this.#table = new NftTable(marks, options.warn);
    this.#policies = new PolicyManager(this.#table);
    this.#ipSets = new IpSetsManager(this.#table, (owners) => this.#policies.markOwnersDirty(owners));
    this.#endpoints = new EndpointManager(this.#table);
    this.#statics = new StaticChainsManager(this.#table, () => this.#endpoints.wildcard);
    this.#floatingIps = new FloatingIpManager(this.#table);
  }

  /** The desired table contents. */
  get desired(): DesiredState {
    return this.#table.desired;
  }

  /** The packet-mark bits rules use. */
  get marks(): MarkBits {
    return this.#table.marks;
  }

  /** The settings in force. */
  get currentSettings(): DataplaneSettings {
    return this.#table.settings;
  }

  /** Told the chains of each policy list as soon as it is rendered (undefined: nobody). */
  set onListRendered(hook: ((chains: readonly string[]) => void) | undefined) {
    this.#table.onListRendered = hook;
  }

  /** Workload endpoint keys whose chains changed since the last flush (for status reporting). */
  pendingWorkloads(): string[] {
    return this.#endpoints.pendingWorkloads();
  }

  /** Records one update; nothing is rendered until {@link completeDeferredWork}. */
  onUpdate(u: DataplaneUpdate): void {
    if (u.type === 'settings') {
      this.#table.settings = u.settings;
      this.#settingsDirty = true;
      return;
    }
    this.#ipSets.onUpdate(u);
    this.#policies.onUpdate(u);
    this.#endpoints.onUpdate(u);
    this.#floatingIps.onUpdate(u);
  }

  /** True when some recorded update has not been rendered yet. */
  hasPendingWork(): boolean {
    return this.#settingsDirty || this.#ipSets.pending || this.#policies.pending || this.#endpoints.pending || this.#floatingIps.pending;
  }

  /** Policies recorded and not rendered yet. */
  get pendingPolicies(): number {
    return this.#policies.pendingCount;
  }

  /**
   * Renders the recorded IP sets and policies only (and the fixed sets their rules may use): what
   * nothing refers to until the endpoints are rendered (a cold start loads it ahead meanwhile; driver.ts `loadAhead`).
   * {@link completeDeferredWork} renders the rest.
   */
  completeSetsAndPolicies(): void {
    if (this.#settingsDirty) {
      this.#ipSets.markAllDirty();
      this.#policies.markAllDirty();
      this.#endpoints.markAllDirty();
      this.#statics.markDirty();
      this.#floatingIps.markDirty();
      this.#settingsDirty = false;
    }
    this.#statics.completeSets();
    this.#ipSets.completeDeferredWork();
    this.#policies.completeDeferredWork();
  }

  /** Renders everything recorded into the desired table. */
  completeDeferredWork(): void {
    this.completeSetsAndPolicies();
    this.#endpoints.policyGuardsChanged(this.#policies.takeGuardChanges());
    this.#endpoints.completeDeferredWork();
    if (this.#endpoints.takeWildcardChanged()) this.#statics.markChainsDirty();
    this.#statics.completeDeferredWork();
    this.#floatingIps.completeDeferredWork();
    this.#table.resolvePlaceholders();
  }

  /** Renders everything recorded and returns the names that changed since the last call. */
  flush(): DirtyNames {
    this.completeDeferredWork();
    return this.#table.desired.takeDirty();
  }
}
