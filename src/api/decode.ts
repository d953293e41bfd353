/**
 * Manifest decoding: text (multi-document YAML, JSON, `kind: List`/`<Kind>List` wrappers) to
 * validated projectcalico.org/v3 resources, converting the Kubernetes kinds Margay accepts.
 * Pure: the caller reads the files. Every error names the file, the document and the field.
 */
import { LineCounter, parseAllDocuments } from 'yaml';
import { elide, MargayError } from '../errors/mod.ts';
import { convertKubernetesResource, isKubernetesKind } from './k8s/mod.ts';
import { MAX_INPUT_BYTES, MAX_NESTING_DEPTH, MAX_TEXT_NESTING, textNesting, tooDeep } from './limits.ts';
import type { Resource, SourceRef } from './resource.ts';
import { validateResource } from './validate.ts';

/** One object found in the input, with where it came from. */
export interface DecodedDocument {
  source: SourceRef;
  object: unknown;
}

/** A validated resource with where it came from. */
export interface DecodedResource {
  source: SourceRef;
  resource: Resource;
}

function isListWrapper(obj: unknown): obj is { items: unknown[] } {
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) return false;
  const kind = (obj as { kind?: unknown }).kind;
  return typeof kind === 'string' && kind.endsWith('List') && Array.isArray((obj as { items?: unknown }).items);
}

/**
 * Refuses, before parsing, a text larger than {@link MAX_INPUT_BYTES} or nested so deep that the
 * parser's recursion would exhaust the stack (MARGAY_ERR_TOO_LARGE).
 */
function checkTextBounds(text: string, file: string): void {
  if (text.length > MAX_INPUT_BYTES) {
    throw new MargayError('MARGAY_ERR_TOO_LARGE', `${file}: the input is ${text.length} characters; at most ${MAX_INPUT_BYTES} are read`);
  }
  const nesting = textNesting(text);
  if (nesting.depth > MAX_TEXT_NESTING) {
    throw new MargayError('MARGAY_ERR_TOO_LARGE', `${file}: line ${nesting.line}: nested more than ${MAX_TEXT_NESTING} levels deep`);
  }
}

/**
 * Splits text into objects: each YAML document, and each item of a List or of a top-level
 * JSON/YAML array. Empty documents are skipped. Throws MARGAY_ERR_DECODE with the position of
 * the first syntax error, MARGAY_ERR_TOO_LARGE for an input over the limits (docs/limits.md).
 */
export function decodeDocuments(text: string, file: string): DecodedDocument[] {
  checkTextBounds(text, file);
  const lineCounter = new LineCounter();
  const documents = parseAllDocuments(text, { lineCounter, uniqueKeys: true, prettyErrors: false });
  const out: DecodedDocument[] = [];
  const docs = Array.isArray(documents) ? documents : [documents];
  for (const doc of docs) {
    const start = doc.contents?.range?.[0] ?? doc.range[0];
    const line = lineCounter.linePos(start).line;
    const error = doc.errors[0];
    if (error) {
      const pos = lineCounter.linePos(error.pos[0]);
      const message = error.message.split('\n')[0];
      throw new MargayError('MARGAY_ERR_DECODE', `${file}: line ${pos.line}, column ${pos.col}: ${message}`);
    }
    let object: unknown;
    try {
      object = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      // Unresolved or excessive aliases are only found while building the value.
      throw new MargayError('MARGAY_ERR_DECODE', `${file}: line ${line}: ${(err as Error).message.split('\n')[0]}`);
    }
    if (object === null || object === undefined) continue;
    const deep = tooDeep(object, MAX_NESTING_DEPTH + 1);
    if (deep !== undefined) {
      throw new MargayError('MARGAY_ERR_TOO_LARGE', `${file}: line ${line}: ${elide(deep, 120) || '(document)'}: nested more than ${MAX_NESTING_DEPTH} levels deep`);
    }
    const items = Array.isArray(object) ? object : isListWrapper(object) ? object.items : [object];
    for (const item of items) out.push({ source: { file, document: out.length, line }, object: item });
  }
  return out;
}

/** Validates (or converts, for Kubernetes kinds) one decoded object. */
export function toResource(doc: DecodedDocument, options: { defaultNamespace?: string } = {}): Resource {
  const { object, source } = doc;
  if (isKubernetesKind(object)) return convertKubernetesResource(object, { source });
  return validateResource(object, { source, ...options });
}

/**
 * Decodes and validates every document of a text. Throws the first problem found, naming the
 * file, the document and the field path; nothing is returned unless every document is valid.
 */
export function decodeResources(text: string, file: string, options: { defaultNamespace?: string } = {}): DecodedResource[] {
  return decodeDocuments(text, file).map((doc) => ({ source: doc.source, resource: toResource(doc, options) }));
}
