/** Field paths as errors print them. */
import { elide, quote } from '../errors/mod.ts';

/** Longest path an error prints (a hostile nesting makes long ones). */
const PATH_MAX = 200;

/** Turns a zod path (`['spec','ingress',0,'action']`) into `spec.ingress[0].action`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(part))) out += `[${quote(String(part), 60)}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return elide(out, PATH_MAX);
}

/** Appends one key or index to a printed path: `joinPath('metadata.labels', 'a/b')` is `metadata.labels["a/b"]`. */
export function joinPath(base: string, key: string | number): string {
  const tail = formatPath([key]);
  return base === '' || tail.startsWith('[') ? `${base}${tail}` : `${base}.${tail}`;
}
