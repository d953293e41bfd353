import { noEffectWarnings } from '../field-support.ts';
import type { KindDefinition } from '../kind.ts';
import { infraKinds } from './infra-kinds.ts';
import { policyKinds } from './policy-kinds.ts';

/** A kind whose warnings also name every set field that has no effect in Margay (field-effects.ts). */
function withNoEffectWarnings(def: KindDefinition): KindDefinition {
  const own = def.warnings;
  // A copy of the properties as they are: a schema built on first use (a getter) stays so.
  const out = Object.defineProperties({}, Object.getOwnPropertyDescriptors(def)) as KindDefinition;
  out.warnings = (res) => {
    const named = own?.(res) ?? [];
    return [...named, ...noEffectWarnings(def, res, named)];
  };
  return out;
}

/** Every projectcalico.org/v3 kind Margay stores. */
export const allKinds: readonly KindDefinition[] = [...policyKinds, ...infraKinds].map(withNoEffectWarnings);

const byName = new Map<string, KindDefinition>();
for (const def of allKinds) {
  for (const name of [def.kind.toLowerCase(), def.plural, ...def.aliases]) byName.set(name, def);
}

/** Finds a kind by its name, plural or alias, case-insensitively (`ipp`, `IPPools`, `ippool`). */
export function findKind(name: string): KindDefinition | undefined {
  return byName.get(name.toLowerCase());
}

/** Older manifest spellings Calico still accepts, and the kind they mean today. */
const LEGACY_KIND_NAMES: Readonly<Record<string, string>> = { IPAMConfig: 'IPAMConfiguration' };

/** Finds a kind by its exact manifest spelling (`IPPool`, or the legacy `IPAMConfig`). */
export function kindByExactName(kind: string): KindDefinition | undefined {
  const spelled = Object.hasOwn(LEGACY_KIND_NAMES, kind) ? LEGACY_KIND_NAMES[kind]! : kind;
  const def = byName.get(spelled.toLowerCase());
  return def && def.kind === spelled ? def : undefined;
}
