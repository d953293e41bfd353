/**
 * The rule scanner (Felix's `RuleScanner`): compiles the rules of active policies and profiles
 * (rule-compiler.ts) and keeps track of which IP sets they use, reference-counted across
 * policies: a set becomes active when the first rule using it appears and inactive when the
 * last one goes. New sets are announced before the policy that uses them, and sets are released
 * after the policy stops using them (the sequencer also orders the dataplane messages so).
 */
import type { ActiveIpSetCallbacks, ActiveRulesCallbacks, CompiledPolicyCallbacks } from './callbacks.ts';
import type { CompiledPolicy, CompiledRule } from './model.ts';
import type { PolicyData, ProfileData } from './policy-data.ts';
import { compileRuleInto, type IpSetSpec } from './rule-compiler.ts';
import type { Rule } from '../api/mod.ts';
import { PARAMS } from '../api/mod.ts';

const NO_SETS: readonly string[] = Object.freeze([]);

/** Compiles active policies and profiles and reference-counts the IP sets they use. */
export class RuleScanner implements ActiveRulesCallbacks {
  readonly #sets: ActiveIpSetCallbacks;
  readonly #out: CompiledPolicyCallbacks;
  #logPrefix = PARAMS.logPrefix.default as string;

  /** What is active, so that it can be recompiled when the log prefix changes. */
  readonly #active = new Map<string, PolicyData | ProfileData>();
  /** policy/profile key → ids of the sets its rules use (a few: an array, not a `Set` per policy). */
  readonly #setsByRules = new Map<string, readonly string[]>();
  /** set id → number of policies/profiles using it. */
  readonly #setRefs = new Map<string, number>();

  constructor(sets: ActiveIpSetCallbacks, out: CompiledPolicyCallbacks) {
    this.#sets = sets;
    this.#out = out;
  }

  onPolicyActive(policy: PolicyData): void {
    this.#active.set(policy.key, policy);
    this.#scan(policy);
  }

  onPolicyInactive(key: string): void {
    this.#deactivate(key);
  }

  onProfileActive(profile: ProfileData): void {
    this.#active.set(profile.key, profile);
    this.#scan(profile);
  }

  onProfileInactive(key: string): void {
    this.#deactivate(key);
  }

  /** Sets the base of Log rule prefixes; recompiles whatever has Log rules. */
  setLogPrefix(prefix: string): void {
    if (prefix === this.#logPrefix) return;
    this.#logPrefix = prefix;
    for (const source of this.#active.values()) {
      if ([...source.ingressRules, ...source.egressRules].some((r) => r.action === 'Log')) this.#scan(source);
    }
  }

  /** Keys of the active policies and profiles. */
  activeKeys(): string[] {
    return [...this.#active.keys()].sort();
  }

  /** Number of IP sets in use. */
  get setCount(): number {
    return this.#setRefs.size;
  }

  #scan(source: PolicyData | ProfileData): void {
    const namespace = 'namespace' in source ? source.namespace : undefined;
    const specs = new Map<string, IpSetSpec>();
    const compileAll = (rules: readonly Rule[], direction: 'ingress' | 'egress'): CompiledRule[] =>
      rules.map((rule, index) => compileRuleInto(rule, { policy: source.key, direction, index, namespace, logPrefix: this.#logPrefix }, specs));
    const compiled: CompiledPolicy = {
      key: source.key,
      ingress: compileAll(source.ingressRules, 'ingress'),
      egress: compileAll(source.egressRules, 'egress'),
    };
    if ('tier' in source) {
      compiled.tier = source.tier;
      if (source.doNotTrack) compiled.doNotTrack = true;
      if (source.preDNAT) compiled.preDNAT = true;
      if (source.applyOnForward) compiled.applyOnForward = true;
    }

    const old = this.#setsByRules.get(source.key) ?? NO_SETS;
    const ids = new Array<string>(specs.size); // at its size: kept per policy
    let i = 0;
    specs.forEach((spec, id) => {
      ids[i++] = id;
      if (old.includes(id)) return;
      const n = this.#setRefs.get(id) ?? 0;
      this.#setRefs.set(id, n + 1);
      if (n === 0) this.#sets.onIpSetActive(spec);
    });
    this.#setsByRules.set(source.key, ids.length === 0 ? NO_SETS : ids);
    this.#out.onPolicyUpdate(compiled);
    for (const id of old) if (!specs.has(id)) this.#unref(id);
  }

  #deactivate(key: string): void {
    if (!this.#active.delete(key)) return;
    this.#out.onPolicyRemove(key);
    for (const id of this.#setsByRules.get(key) ?? []) this.#unref(id);
    this.#setsByRules.delete(key);
  }

  #unref(id: string): void {
    const n = (this.#setRefs.get(id) ?? 1) - 1;
    if (n > 0) {
      this.#setRefs.set(id, n);
      return;
    }
    this.#setRefs.delete(id);
    this.#sets.onIpSetInactive(id);
  }
}
