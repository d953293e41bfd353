/**
 * The render context the table hands a manager for one owner (a policy, a policy list, the host
 * endpoints): what rendering needs from the table, recording the chains and IP sets the owner's
 * rules refer to in its {@link Refs}. One object per render with its methods on the prototype
 * (no closures per render), and an owner's sets made only when something goes in them (most
 * policies jump to no chain): a cold start renders ~5,000 owners and keeps their records.
 */
import type { Family } from '../../net/mod.ts';
import { ipSetName, policyChain, type SetKind } from './names.ts';
import type { ChainRenderContext } from './render-chains.ts';
import type { Guard } from './render-dispatch.ts';
import type { MarkBits } from './settings.ts';
import type { IpSetShape } from './table.ts';

/** What one owner's chains refer to: policy chains, and IP sets by id (only read once recorded). */
export interface Refs {
  chains: ReadonlySet<string>;
  ipSetIds: ReadonlySet<string>;
}

/** The empty set of an owner's record until something is added (never added to itself). */
const NO_NAMES: ReadonlySet<string> = new Set();

/** A fresh, empty reference record. */
export function emptyRefs(): Refs {
  return { chains: NO_NAMES, ipSetIds: NO_NAMES };
}

/** What the context reads from the table. */
export interface ContextSource {
  readonly marks: MarkBits;
  readonly ipSetShapes: ReadonlyMap<string, IpSetShape>;
  readonly policyGuards: ReadonlyMap<string, { ingress: Guard; egress: Guard }>;
  warn(message: string): void;
}

/** A render context recording one owner's references in `refs`. */
export class RecordingContext implements ChainRenderContext {
  readonly marks: MarkBits;
  readonly families: readonly Family[];
  readonly logPrefix: string;
  readonly #source: ContextSource;
  readonly #refs: Refs;

  constructor(source: ContextSource, families: readonly Family[], logPrefix: string, refs: Refs) {
    this.marks = source.marks;
    this.families = families;
    this.logPrefix = logPrefix;
    this.#source = source;
    this.#refs = refs;
  }

  warn(message: string): void {
    this.#source.warn(message);
  }

  setName(kind: SetKind, family: Family, id: string): string | undefined {
    const refs = this.#refs;
    if (refs.ipSetIds === NO_NAMES) refs.ipSetIds = new Set([id]);
    else (refs.ipSetIds as Set<string>).add(id);
    const shape = this.#source.ipSetShapes.get(id);
    const interval = shape?.families.get(family);
    if (!shape || shape.kind !== kind || interval === undefined) return undefined;
    return ipSetName(kind, family, id, interval);
  }

  policyChain(direction: 'ingress' | 'egress', key: string): string {
    const name = policyChain(direction, key);
    const refs = this.#refs;
    if (refs.chains === NO_NAMES) refs.chains = new Set([name]);
    else (refs.chains as Set<string>).add(name);
    return name;
  }

  policyGuard(direction: 'ingress' | 'egress', key: string): Guard {
    return this.#source.policyGuards.get(key)?.[direction] ?? 'any';
  }
}
