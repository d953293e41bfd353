/**
 * The table the nftables managers share (Felix's `iptables.Table` as its managers see it): the
 * desired contents ({@link DesiredState}), the settings and mark bits every renderer needs, and
 * the book of references between what the managers render:
 *
 * - chains each owner (a policy, a workload, the host endpoints) jumps to, reference-counted, so
 *   that a chain referred to but not (or no longer) defined becomes an empty placeholder and the
 *   transaction stays valid (an empty policy chain matches nothing and fails closed);
 * - the IP sets each owner's rules use, so that a set whose families or interval-ness change has
 *   its users re-rendered;
 * - the shape of each IP set (kind, and per family with members whether it is an interval set),
 *   which names the set a rule refers to.
 */
import type { DataplaneSettings } from '../../calc/mod.ts';
import type { Family } from '../../net/mod.ts';
import type { SetKind } from './names.ts';
import { emptyRefs, RecordingContext, type Refs } from './recording-context.ts';
import { ALL_DISPATCH_MAPS, type ChainRenderContext } from './render-chains.ts';
import type { Guard } from './render-dispatch.ts';
import { DEFAULT_SETTINGS, type MarkBits } from './settings.ts';
import { type ChainSpec, DesiredState } from './state.ts';

export type { Refs } from './recording-context.ts';

/** Kind, and per family with members whether it needs an interval set, of one IP set. */
export interface IpSetShape {
  kind: SetKind;
  families: Map<Family, boolean>;
}

const IPV4_ONLY: readonly Family[] = Object.freeze([4]);
const BOTH_FAMILIES: readonly Family[] = Object.freeze([4, 6]);

/** The shared desired table and its reference book. */
export class NftTable {
  readonly desired = new DesiredState();
  readonly marks: MarkBits;
  /** The settings in force (the defaults until the first `settings` message). */
  settings: DataplaneSettings = DEFAULT_SETTINGS;
  /** The shape of each IP set with members (a named set exists only for families with members). */
  readonly ipSetShapes = new Map<string, IpSetShape>();
  /** Where each policy's rules can match, per direction (kept by the policy manager). */
  readonly policyGuards = new Map<string, { ingress: Guard; egress: Guard }>();
  /**
   * Told the chains of each policy list once rendered (a cold start streams them to the kernel
   * while the rest renders: driver.ts `continueAhead`); unset otherwise.
   */
  onListRendered: ((chains: readonly string[]) => void) | undefined;
  readonly #warn: ((message: string) => void) | undefined;
  readonly #ownedChains = new Set<string>();
  readonly #touchedChains = new Set<string>();
  readonly #refsByOwner = new Map<string, Refs>();
  readonly #chainRefCount = new Map<string, number>();
  readonly #ipSetUsers = new Map<string, Set<string>>();

  constructor(marks: MarkBits, warn?: (message: string) => void) {
    this.marks = marks;
    this.#warn = warn;
  }

  /** Reports input ignored or repaired. */
  warn(message: string): void {
    this.#warn?.(message);
  }

  /** The families rules and sets are written for (shared, only read). */
  families(): readonly Family[] {
    return this.settings.ipv6Enabled ? BOTH_FAMILIES : IPV4_ONLY;
  }

  /** A fresh, empty reference record. */
  emptyRefs(): Refs {
    return emptyRefs();
  }

  /** A render context that records the references of one owner in `refs`. */
  context(refs: Refs): ChainRenderContext {
    return new RecordingContext(this, this.families(), this.settings.logPrefix, refs);
  }

  /** Defines a chain a manager owns. */
  putChain(spec: ChainSpec): void {
    this.#ownedChains.add(spec.name);
    this.#touchedChains.add(spec.name);
    this.desired.setChain(spec);
  }

  /** Withdraws a chain (it stays as an empty placeholder while something still jumps to it). */
  dropChain(name: string): void {
    this.#ownedChains.delete(name);
    this.#touchedChains.add(name);
  }

  /** Defines the dispatch maps (once). */
  ensureMaps(): void {
    for (const map of ALL_DISPATCH_MAPS) this.desired.defineMap(map, 'ifname');
  }

  /** Replaces what one owner refers to. */
  setOwnerRefs(owner: string, refs: Refs): void {
    const old = this.#refsByOwner.get(owner);
    for (const c of refs.chains) this.#bumpChain(c, 1);
    for (const id of refs.ipSetIds) {
      let users = this.#ipSetUsers.get(id);
      if (!users) this.#ipSetUsers.set(id, (users = new Set()));
      users.add(owner);
    }
    if (old) {
      for (const c of old.chains) this.#bumpChain(c, -1);
      for (const id of old.ipSetIds) {
        if (refs.ipSetIds.has(id)) continue;
        const users = this.#ipSetUsers.get(id);
        users?.delete(owner);
        if (users?.size === 0) this.#ipSetUsers.delete(id);
      }
    }
    if (refs.chains.size > 0 || refs.ipSetIds.size > 0) this.#refsByOwner.set(owner, refs);
    else this.#refsByOwner.delete(owner);
  }

  /** The owners whose rules use IP set `id`. */
  ipSetUsers(id: string): ReadonlySet<string> {
    return this.#ipSetUsers.get(id) ?? new Set();
  }

  /** Turns chains referred to but not defined into empty placeholders, and deletes the rest of the withdrawn ones. */
  resolvePlaceholders(): void {
    for (const name of this.#touchedChains) {
      if (this.#ownedChains.has(name)) continue;
      if (this.#chainRefCount.has(name)) {
        this.warn(`chain ${name} is referenced but not defined; using an empty placeholder`);
        this.desired.setChain({ name, rules: [] });
      } else {
        this.desired.deleteChain(name);
      }
    }
    this.#touchedChains.clear();
  }

  #bumpChain(name: string, delta: number): void {
    const n = (this.#chainRefCount.get(name) ?? 0) + delta;
    if (n > 0) this.#chainRefCount.set(name, n);
    else this.#chainRefCount.delete(name);
    this.#touchedChains.add(name);
  }
}
