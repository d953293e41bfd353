/**
 * Field names matched as Calico matches them. calicoctl decodes manifests with Go's encoding/json,
 * which takes a key that differs from a field's name only in case (`loadbalancer` for
 * `loadBalancer`) when no key matches exactly; Calico's own documentation relies on it. This
 * rewrites such keys to the schema's spelling before validation, so the stored resource (and
 * `get -o yaml`) uses the canonical names. Map values (labels, annotations, selectors by key) are
 * data and keep their keys. Pure.
 */
import { z } from 'zod';

type JsonSchema = {
  properties?: Record<string, JsonSchema>;
  items?: JsonSchema;
  additionalProperties?: JsonSchema | boolean;
  anyOf?: JsonSchema[];
  oneOf?: JsonSchema[];
};

const cache = new WeakMap<z.ZodType, JsonSchema>();

function jsonSchemaOf(schema: z.ZodType): JsonSchema {
  let json = cache.get(schema);
  if (!json) {
    json = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) as JsonSchema;
    cache.set(schema, json);
  }
  return json;
}

/** The object shapes a schema node may take (a union contributes each of its objects). */
function objectAlternatives(s: JsonSchema): JsonSchema[] {
  const alts = s.anyOf ?? s.oneOf;
  return alts ? alts.flatMap(objectAlternatives) : [s];
}

/** Sets an own property, even one called `__proto__` (plain assignment would set the prototype). */
function put(target: Record<string, unknown>, key: string, value: unknown): void {
  Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
}

/** `value` with keys that match a field only up to case renamed to the field's spelling. */
function canonical(value: unknown, s: JsonSchema): unknown {
  if (Array.isArray(value)) {
    const items = objectAlternatives(s).find((a) => a.items)?.items;
    return items ? value.map((v) => canonical(v, items)) : value;
  }
  if (typeof value !== 'object' || value === null) return value;
  const shapes = objectAlternatives(s);
  const properties = Object.assign({}, ...shapes.map((a) => a.properties ?? {})) as Record<string, JsonSchema>;
  const mapValues = shapes.find((a) => typeof a.additionalProperties === 'object')?.additionalProperties as JsonSchema | undefined;
  const byLower = new Map(Object.keys(properties).map((k) => [k.toLowerCase(), k]));
  // Go's EqualFold also folds a few letters such as the long s; lower-casing covers what manifests use.
  const input = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [key, v] of Object.entries(input)) {
    if (Object.hasOwn(properties, key)) {
      put(out, key, canonical(v, properties[key]!));
      continue;
    }
    const field = byLower.get(key.toLowerCase());
    // An exact key for the same field wins, as in Go; this one is then left to be refused.
    if (field !== undefined && !Object.hasOwn(input, field)) put(out, field, canonical(v, properties[field]!));
    else put(out, key, mapValues ? canonical(v, mapValues) : v);
  }
  return out;
}

/** A spec with its keys spelled as `schema` spells them (Go's case-insensitive field matching). */
export function canonicalKeys(spec: unknown, schema: z.ZodType): unknown {
  return canonical(spec, jsonSchemaOf(schema));
}
