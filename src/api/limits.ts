/**
 * The documented bounds on what Margay accepts (docs/limits.md): every value that can reach a
 * timer, a buffer or etcd has a ceiling, checked when a manifest is validated (with the field
 * path) and defended again where the value is used.
 */
import { MargayError } from '../errors/mod.ts';
import type { FieldIssue, Resource } from './resource.ts';
import { joinPath } from './field-path.ts';

/** Largest resource, as stored (JSON): etcd takes 1.5 MiB per request by default, framing included. */
export const MAX_RESOURCE_BYTES = 1024 * 1024;

/** Kubernetes' cap on the keys and values of `metadata.annotations`, together (every kind). */
export const MAX_ANNOTATIONS_BYTES = 256 * 1024;

/** Deepest nesting of objects and arrays in a manifest or a CNI configuration. */
export const MAX_NESTING_DEPTH = 64;

/** Largest input one command reads (all its files together). */
export const MAX_INPUT_BYTES = 64 * 1024 * 1024;

/** Most writes in one batch (apply, create, replace, delete -f). */
export const MAX_BATCH_WRITES = 10_000;

/** Refuses more resources than one batch may write (MARGAY_ERR_TOO_LARGE), before anything is read. */
export function checkBatchCount(count: number): void {
  if (count > MAX_BATCH_WRITES) {
    throw new MargayError('MARGAY_ERR_TOO_LARGE', `the input holds ${count} resources; at most ${MAX_BATCH_WRITES} go in one batch (split the input)`);
  }
}

/**
 * Longest duration a resource may set, in seconds: 2^31-1 ms, the longest a Node timer can wait
 * (longer ones fire at once). 596h31m23s.
 */
export const MAX_DURATION_SECONDS = 2_147_483;

/** {@link MAX_DURATION_SECONDS} as a message shows it. */
export const MAX_DURATION_TEXT = '596h31m23s';

/**
 * The path at which `value` nests deeper than `max` objects and arrays, or undefined. Iterative,
 * so that a hostile depth cannot exhaust the stack while being measured.
 */
export function tooDeep(value: unknown, max: number, base = ''): string | undefined {
  const stack: { value: unknown; path: string; depth: number }[] = [{ value, path: base, depth: 0 }];
  while (stack.length > 0) {
    const { value: v, path, depth } = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth >= max) return path;
    const entries: [string | number, unknown][] = Array.isArray(v) ? v.map((x, i) => [i, x]) : Object.entries(v);
    for (const [k, child] of entries) stack.push({ value: child, path: joinPath(path, k), depth: depth + 1 });
  }
  return undefined;
}

/** Bytes of a string as UTF-8, which is what etcd stores and counts. */
export function utf8Bytes(text: string): number {
  return Buffer.byteLength(text, 'utf8');
}

/**
 * The issue of a resource larger than {@link MAX_RESOURCE_BYTES} when stored, naming its largest
 * part (a field of `spec`, or `metadata.annotations`); undefined when it fits.
 */
export function storedSizeIssue(resource: Resource): FieldIssue | undefined {
  const size = utf8Bytes(JSON.stringify(resource));
  if (size <= MAX_RESOURCE_BYTES) return undefined;
  const parts: [string, unknown][] = [
    ['metadata.annotations', resource.metadata.annotations],
    ['metadata.labels', resource.metadata.labels],
    ...Object.entries(resource.spec ?? {}).map(([k, v]): [string, unknown] => [joinPath('spec', k), v]),
    ['status', resource.status],
  ];
  let largest = { path: '', bytes: 0 };
  for (const [path, v] of parts) {
    const bytes = v === undefined ? 0 : utf8Bytes(JSON.stringify(v));
    if (bytes > largest.bytes) largest = { path, bytes };
  }
  return {
    path: largest.path,
    message: `the resource is ${size} bytes when stored (this field ${largest.bytes}); at most ${MAX_RESOURCE_BYTES} (etcd's request limit is 1.5 MiB)`,
  };
}

/** Nesting a text may show before it is parsed (the parser's own recursion fails near 800). */
export const MAX_TEXT_NESTING = 256;

/**
 * The deepest nesting a YAML or JSON text can build, measured on the text itself before a parser
 * recurses into it: flow brackets outside quoted scalars and comments, plus the block structure
 * (indentation levels and `- ` entries). It may over-count (a block scalar's own indentation),
 * which the generous {@link MAX_TEXT_NESTING} absorbs; it does not under-count.
 */
export function textNesting(text: string): { depth: number; line: number } {
  const s = { deepest: 0, deepestLine: 1, line: 1, flow: 0, indents: [] as number[] };
  for (const lineText of text.split('\n')) {
    scanLine(lineText, s);
    s.line++;
  }
  return { depth: s.deepest, line: s.deepestLine };
}

interface ScanState {
  deepest: number;
  deepestLine: number;
  line: number;
  flow: number;
  indents: number[];
}

/** One line of {@link textNesting}: its block level, then its flow brackets. */
function scanLine(text: string, s: ScanState): void {
  let i = 0;
  let indent = 0;
  let dashes = 0;
  for (;;) {
    if (text[i] === ' ') {
      indent++;
      i++;
    } else if (text[i] === '-' && (text[i + 1] === ' ' || i + 1 === text.length)) {
      dashes++;
      indent += 2;
      i += 2;
    } else break;
  }
  if (i >= text.length || text[i] === '#') return;
  if (s.flow === 0) {
    while (s.indents.length > 0 && s.indents[s.indents.length - 1]! >= indent) s.indents.pop();
    s.indents.push(indent);
  }
  let quote: string | undefined;
  let previous = '';
  for (; i < text.length; i++) {
    const c = text[i]!;
    if (quote) {
      if (c === '\\' && quote === '"') i++;
      else if (c === quote) quote = undefined;
      continue;
    }
    if ((c === '"' || c === "'") && (previous === '' || ':-[{,'.includes(previous))) quote = c;
    else if (c === '[' || c === '{') s.flow++;
    else if ((c === ']' || c === '}') && s.flow > 0) s.flow--;
    else if (c === '#' && (text[i - 1] === ' ' || text[i - 1] === '\t')) break;
    if (c !== ' ' && c !== '\t') previous = c;
    const depth = s.flow + s.indents.length + dashes;
    if (depth > s.deepest) {
      s.deepest = depth;
      s.deepestLine = s.line;
    }
  }
}
