/**
 * What Margay does with every field it accepts, derived from the kinds' schemas and one
 * declarative table (kinds/field-effects.ts): the field list of each kind comes from its zod
 * schema, the status of each field from the table. Three users read it: `margay validate` and
 * `apply` (a warning per field that is set but has no effect here), docs/compatibility.md (rendered
 * by scripts/gen-compat.ts) and the parity test against Calico's CRD schemas. Pure.
 */
import { z } from 'zod';
import { joinPath } from './field-path.ts';
import type { KindDefinition } from './kind.ts';
import { FIELD_EFFECTS, type KindEffects } from './kinds/field-effects.ts';
import type { FieldIssue, Resource } from './resource.ts';

/** What Margay does with a field. */
export type FieldStatus = 'supported' | 'no effect' | 'refused';

/** One field of a kind's spec, as the compatibility table lists it. */
export interface FieldInfo {
  /** `spec` path in pattern form: `ingress[].source.nets`, `bpfLogFilters{}` for map values. */
  path: string;
  /** `string`, `integer`, `boolean`, `number`, `array`, `object`, `map`, or a union `integer|string`. */
  type: string;
  /** Allowed values, when the field is an enum. */
  values?: string[];
  status: FieldStatus;
  /** Why it has no effect, or what makes it differ from Calico 3.32 (a Margay extension, a removed field). */
  note?: string;
}

type JsonSchema = {
  type?: string | string[];
  enum?: unknown[];
  caseInsensitive?: boolean;
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
};

/** The JSON type of a schema node, unions joined with `|` (`integer|string`). */
function typeOf(s: JsonSchema): string {
  const alts = s.anyOf ?? s.oneOf;
  if (alts) return [...new Set(alts.map(typeOf).filter((t) => t !== 'null' && t !== ''))].sort().join('|') || 'any';
  if (Array.isArray(s.type)) return s.type.join('|');
  if (s.type === 'object' && !s.properties && typeof s.additionalProperties === 'object') return 'map';
  return s.type ?? 'any';
}

/** Adds the fields below `s` (at `path`) to `out`. */
function flatten(s: JsonSchema, path: string, out: Map<string, { type: string; values?: string[] }>): void {
  if (path !== '') {
    const prev = out.get(path);
    const type = typeOf(s);
    const values = s.enum?.map(String);
    out.set(path, { type: prev && prev.type !== type ? [...new Set([...prev.type.split('|'), ...type.split('|')])].sort().join('|') : type, values: values ?? prev?.values });
  }
  for (const alt of s.anyOf ?? s.oneOf ?? []) flattenChildren(alt, path, out);
  flattenChildren(s, path, out);
}

function flattenChildren(s: JsonSchema, path: string, out: Map<string, { type: string; values?: string[] }>): void {
  for (const [k, v] of Object.entries(s.properties ?? {})) flatten(v, path === '' ? k : `${path}.${k}`, out);
  if (s.items) flatten(s.items, `${path}[]`, out);
  if (typeof s.additionalProperties === 'object') flatten(s.additionalProperties, `${path}{}`, out);
}

const fieldCache = new Map<string, Map<string, { type: string; values?: string[] }>>();

/** Every spec field path of a kind with its JSON type and enum values, from its zod schema. */
export function schemaFields(def: KindDefinition): Map<string, { type: string; values?: string[] }> {
  let fields = fieldCache.get(def.kind);
  if (!fields) {
    const json = z.toJSONSchema(def.specSchema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
    fields = new Map();
    flattenChildren(json, '', fields);
    fieldCache.set(def.kind, fields);
  }
  return fields;
}

/** The declared effects of a kind (an empty declaration when it has none). */
export function kindEffects(kind: string): KindEffects {
  return FIELD_EFFECTS[kind] ?? {};
}

/** The longest declared pattern that is `path` or an ancestor of it. */
function declared(table: Readonly<Record<string, string>> | undefined, path: string): string | undefined {
  let best: string | undefined;
  for (const p of Object.keys(table ?? {})) {
    if ((path === p || path.startsWith(`${p}.`) || path.startsWith(`${p}[`) || path.startsWith(`${p}{`)) && (best === undefined || p.length > best.length)) best = p;
  }
  return best;
}

/** The status and note of one field path of a kind. */
export function fieldStatus(kind: string, path: string): { status: FieldStatus; note?: string } {
  const effects = kindEffects(kind);
  const refused = declared(effects.refused, path);
  if (refused) return { status: 'refused', note: effects.refused![refused] };
  const none = declared(effects.noEffect, path);
  const extra = declared(effects.notInCalico, path);
  const note = [none && effects.noEffect![none], extra && effects.notInCalico![extra]].filter(Boolean).join('; ');
  const status: FieldStatus = none ? 'no effect' : 'supported';
  return note ? { status, note } : { status };
}

/** The compatibility table rows of a kind: every field its schema accepts, then the declared refusals. */
export function fieldTable(def: KindDefinition): FieldInfo[] {
  const rows: FieldInfo[] = [];
  for (const [path, { type, values }] of schemaFields(def)) {
    rows.push({ path, type, ...(values ? { values } : {}), ...fieldStatus(def.kind, path) });
  }
  for (const [path, note] of Object.entries(kindEffects(def.kind).refused ?? {})) {
    if (!schemaFields(def).has(path)) rows.push({ path, type: '', status: 'refused', note });
  }
  return rows;
}

/** The pattern form of a concrete path segment list (`ingress[].http`). */
function patternOf(parts: ReadonlyArray<string | number>, mapPaths: ReadonlySet<string>): string {
  let out = '';
  for (const part of parts) {
    if (typeof part === 'number') out += '[]';
    else if (mapPaths.has(out)) out += '{}';
    else out += out === '' ? part : `.${part}`;
  }
  return out;
}

/** Every set value in `value`, as concrete path parts (objects and arrays are descended into). */
function* setPaths(value: unknown, parts: Array<string | number>): Generator<Array<string | number>> {
  if (value === undefined || value === null) return;
  if (parts.length > 0) yield parts;
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) yield* setPaths(value[i], [...parts, i]);
  } else if (typeof value === 'object') {
    for (const [k, v] of Object.entries(value)) yield* setPaths(v, [...parts, k]);
  }
}

/** The printed form of concrete parts under `spec` (`spec.ingress[0].http`). */
function printed(parts: ReadonlyArray<string | number>): string {
  return parts.reduce<string>((acc, p) => joinPath(acc, p), 'spec');
}

/** The value at `parts` below a spec, or undefined. */
function valueAt(spec: unknown, parts: ReadonlyArray<string | number>): unknown {
  let cur = spec;
  for (const p of parts) {
    if (typeof cur !== 'object' || cur === null) return undefined;
    cur = (cur as Record<string | number, unknown>)[p];
  }
  return cur;
}

/** Go's zero values (0, '', false, empty list or map): what Calico writes for a field nobody set. */
function isZero(value: unknown): boolean {
  if (value === 0 || value === '' || value === false) return true;
  if (Array.isArray(value)) return value.length === 0;
  return typeof value === 'object' && value !== null && Object.keys(value).length === 0;
}

/**
 * One warning per field that is set but has no effect in Margay, at its outermost path. A zero
 * value, or one equal to what Calico's defaults would put there, is not reported (it changes
 * nothing, and Calico's own output is full of them), nor is a path the kind's own warnings name.
 */
export function noEffectWarnings(def: KindDefinition, res: Resource, already: readonly FieldIssue[] = []): FieldIssue[] {
  const effects = kindEffects(def.kind);
  if (!effects.noEffect) return [];
  const maps = new Set([...schemaFields(def).keys()].filter((p) => p.endsWith('{}')).map((p) => p.slice(0, -2)));
  const issues: FieldIssue[] = [];
  // Paths already warned about (by the kind itself or above) are not repeated, nor anything below them.
  const reported: string[] = already.map((i) => i.path);
  const emptied = def.applyDefaults?.({ ...res, spec: {} });
  for (const parts of setPaths(res.spec, [])) {
    const path = printed(parts);
    if (reported.some((r) => path === r || path.startsWith(`${r}.`) || path.startsWith(`${r}[`))) continue;
    const status = fieldStatus(def.kind, patternOf(parts, maps));
    if (status.status !== 'no effect') continue;
    const value = valueAt(res.spec, parts);
    if (isZero(value)) continue;
    const fallback = emptied ? valueAt(emptied.spec, parts) : undefined;
    if (fallback !== undefined && JSON.stringify(fallback) === JSON.stringify(value)) continue;
    reported.push(path);
    issues.push({ path, message: `accepted but has no effect in Margay${status.note ? ` (${status.note})` : ''}` });
  }
  return issues;
}
