/** Field paths as errors print them. */

/** Turns a zod path (`['spec','ingress',0,'action']`) into `spec.ingress[0].action`. */
export function formatPath(path: ReadonlyArray<PropertyKey>): string {
  let out = '';
  for (const part of path) {
    if (typeof part === 'number') out += `[${part}]`;
    else if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(String(part))) out += `[${JSON.stringify(String(part))}]`;
    else out += out === '' ? String(part) : `.${String(part)}`;
  }
  return out;
}

/** Appends one key or index to a printed path: `joinPath('metadata.labels', 'a/b')` is `metadata.labels["a/b"]`. */
export function joinPath(base: string, key: string | number): string {
  const tail = formatPath([key]);
  return base === '' || tail.startsWith('[') ? `${base}${tail}` : `${base}.${tail}`;
}
