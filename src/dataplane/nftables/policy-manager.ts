/**
 * The policy manager (Felix's `policy_mgr`): one pair of chains per policy or profile the
 * calculation graph sends (`pi-`/`po-<key>`: ingress and egress), written again when the policy
 * changes or an IP set its rules use changes shape. A removed policy's chains go, or stay as empty
 * placeholders while an endpoint chain still jumps to them.
 */
import type { CompiledPolicy, DataplaneUpdate } from '../../calc/mod.ts';
import type { Manager } from '../manager.ts';
import { policyChain } from './names.ts';
import { renderPolicyChains } from './render-chains.ts';
import { guardKey, policyGuard, type Guard } from './render-dispatch.ts';
import type { NftTable } from './table.ts';

/** The owner name of a policy in the table's reference book. */
const OWNER = 'policy:';

/** Renders the graph's policies and profiles into the table. */
export class PolicyManager implements Manager {
  readonly #table: NftTable;
  readonly #policies = new Map<string, CompiledPolicy>();
  readonly #dirty = new Set<string>();
  /** Policies whose guard (where their rules can match) changed since last taken. */
  #guardsChanged = new Set<string>();

  constructor(table: NftTable) {
    this.#table = table;
  }

  /** True when some policy waits to be rendered. */
  get pending(): boolean {
    return this.#dirty.size > 0;
  }

  /** How many policies wait to be rendered. */
  get pendingCount(): number {
    return this.#dirty.size;
  }

  onUpdate(u: DataplaneUpdate): void {
    if (u.type === 'policy-update') {
      this.#policies.set(u.policy.key, u.policy);
      this.#dirty.add(u.policy.key);
    } else if (u.type === 'policy-remove') {
      this.#policies.delete(u.key);
      this.#dirty.add(u.key);
    }
  }

  /** Every policy must be rendered again (the settings changed). */
  markAllDirty(): void {
    for (const key of this.#policies.keys()) this.#dirty.add(key);
  }

  /** The policies among `owners` (table reference owners) must be rendered again. */
  markOwnersDirty(owners: Iterable<string>): void {
    for (const owner of owners) if (owner.startsWith(OWNER)) this.#dirty.add(owner.slice(OWNER.length));
  }

  /** The policies whose guards changed since the last call (the tiers that dispatch on them must be rendered again). */
  takeGuardChanges(): Set<string> {
    const changed = this.#guardsChanged;
    this.#guardsChanged = new Set();
    return changed;
  }

  completeDeferredWork(): void {
    for (const key of this.#dirty) this.#render(key);
    this.#dirty.clear();
  }

  #render(key: string): void {
    const table = this.#table;
    const ingressName = policyChain('ingress', key);
    const egressName = policyChain('egress', key);
    const policy = this.#policies.get(key);
    const refs = table.emptyRefs();
    if (policy) {
      const { ingress, egress } = renderPolicyChains(policy, ingressName, egressName, table.context(refs));
      table.putChain(ingress);
      table.putChain(egress);
    } else {
      table.dropChain(ingressName);
      table.dropChain(egressName);
    }
    table.setOwnerRefs(`${OWNER}${key}`, refs);
    this.#updateGuard(key, policy);
  }

  #updateGuard(key: string, policy: CompiledPolicy | undefined): void {
    const guards = this.#table.policyGuards;
    const old = guards.get(key);
    const next = policy ? { ingress: policyGuard(policy.ingress), egress: policyGuard(policy.egress) } : undefined;
    if (next) guards.set(key, next);
    else guards.delete(key);
    if (!sameGuard(old?.ingress ?? 'any', next?.ingress ?? 'any') || !sameGuard(old?.egress ?? 'any', next?.egress ?? 'any')) this.#guardsChanged.add(key);
  }
}

/** Whether two guards hold for the same packets; a new policy's guard is compared without its text, a shared one by identity. */
function sameGuard(a: Guard, b: Guard): boolean {
  if (a === b) return true;
  if (a === 'any' || b === 'any') return false;
  return guardKey(a) === guardKey(b);
}
