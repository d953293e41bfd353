/**
 * A quick parse of common resource metadata (a name, a namespace, valid labels, string
 * annotations), without zod: what the metadata schema of validate.ts returns for it, or undefined
 * when the schema must decide (another field, another type, a label it refuses), so bad input
 * gets the schema's errors. test/api/workload-endpoint-quick.test.ts checks it against the schema
 * on random metadata. Pure.
 */
import { checkLabelKey, checkLabelValue, isPlainObject } from './common.ts';

const KNOWN = new Set(['name', 'namespace', 'labels', 'annotations']);

/** A copy of a plain object of strings whose entries pass `check`, or undefined. */
function stringMap(value: unknown, check: (key: string, value: string) => boolean): Record<string, string> | undefined {
  if (!isPlainObject(value)) return undefined;
  const out: Record<string, string> = {};
  for (const key of Object.keys(value)) {
    const v = value[key];
    // `__proto__` as an own key: the schema's copy would differ; let it decide.
    if (typeof v !== 'string' || key === '__proto__' || !check(key, v)) return undefined;
    out[key] = v;
  }
  return out;
}

const validLabel = (key: string, value: string): boolean => checkLabelKey(key) === undefined && checkLabelValue(value) === undefined;

/** Metadata as {@link quickMetadata} returns it. */
export interface QuickMetadata {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

/** The metadata as validate.ts's metadata schema would return it, or undefined (let it decide). */
export function quickMetadata(meta: unknown): QuickMetadata | undefined {
  if (!isPlainObject(meta)) return undefined;
  for (const key of Object.keys(meta)) if (!KNOWN.has(key)) return undefined;
  if (typeof meta.name !== 'string') return undefined;
  const out: QuickMetadata = { name: meta.name };
  if (Object.hasOwn(meta, 'namespace')) {
    if (typeof meta.namespace !== 'string') return undefined;
    out.namespace = meta.namespace;
  }
  if (Object.hasOwn(meta, 'labels')) {
    const labels = stringMap(meta.labels, validLabel);
    if (labels === undefined) return undefined;
    out.labels = labels;
  }
  if (Object.hasOwn(meta, 'annotations')) {
    const annotations = stringMap(meta.annotations, () => true);
    if (annotations === undefined) return undefined;
    out.annotations = annotations;
  }
  return out;
}
