/**
 * The sets and chains a rule text refers to (pure): each `@name` (a set or map it looks up) and
 * each `jump name` / `goto name` (a chain), in the order they stand — what
 * `/@([A-Za-z0-9_./-]+)|\b(?:jump|goto) ([A-Za-z][A-Za-z0-9_./-]*)/g` matches, scanned without a
 * match object per reference: the cold start's stream asks this of ~30,000 rules
 * (ahead-stream.ts), most of which refer to nothing.
 */

/** A character of a set or chain name (`[A-Za-z0-9_./-]`). */
function isNameChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f || c === 0x2e || c === 0x2f || c === 0x2d;
}

/** A word character of `\b` (`[A-Za-z0-9_]`). */
function isWordChar(c: number): boolean {
  return (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a) || (c >= 0x30 && c <= 0x39) || c === 0x5f;
}

const isLetter = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);

/**
 * Calls `onSet` for each set and `onChain` for each chain `body` refers to, in order, while they
 * return true; returns false when one returned false (the scan stopped there).
 */
export function forEachReference(body: string, onSet: (name: string) => boolean, onChain: (name: string) => boolean): boolean {
  // Most rules name neither: nothing to scan.
  if (body.indexOf('@') < 0 && body.indexOf('jump ') < 0 && body.indexOf('goto ') < 0) return true;
  const n = body.length;
  for (let i = 0; i < n; ) {
    const c = body.charCodeAt(i);
    if (c === 0x40 /* @ */) {
      let end = i + 1;
      while (end < n && isNameChar(body.charCodeAt(end))) end++;
      if (end > i + 1) {
        if (!onSet(body.slice(i + 1, end))) return false;
        i = end;
        continue;
      }
    } else if ((c === 0x6a /* j */ || c === 0x67 /* g */) && (i === 0 || !isWordChar(body.charCodeAt(i - 1))) && (body.startsWith('jump ', i) || body.startsWith('goto ', i))) {
      let end = i + 5;
      if (end < n && isLetter(body.charCodeAt(end))) {
        while (end < n && isNameChar(body.charCodeAt(end))) end++;
        if (!onChain(body.slice(i + 5, end))) return false;
        i = end;
        continue;
      }
    }
    i++;
  }
  return true;
}
