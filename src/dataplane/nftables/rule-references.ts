/**
 * The sets and chains a rule text refers to (pure): each `@name` (a set or map it looks up) and
 * each `jump name` / `goto name` (a chain), in the order they stand — what
 * `/@([A-Za-z0-9_./-]+)|\b(?:jump|goto) ([A-Za-z][A-Za-z0-9_./-]*)/g` matches, scanned without a
 * match object per reference: the cold start's stream asks this of ~30,000 rules
 * (ahead-stream.ts), most of which refer to nothing.
 */

/** Characters of a set or chain name (`[A-Za-z0-9_./-]`) and of a `\b` word (`[A-Za-z0-9_]`), by code: a table, no call per character. */
const NAME_CHAR = new Uint8Array(128);
const WORD_CHAR = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  WORD_CHAR[c] = /[A-Za-z0-9_]/.test(ch) ? 1 : 0;
  NAME_CHAR[c] = /[A-Za-z0-9_./-]/.test(ch) ? 1 : 0;
}

const isLetter = (c: number): boolean => (c >= 0x61 && c <= 0x7a) || (c >= 0x41 && c <= 0x5a);

/** The end of the run of name characters from `from`. */
function nameEnd(body: string, from: number): number {
  let end = from;
  for (let c = body.charCodeAt(end); c < 128 && NAME_CHAR[c] === 1; c = body.charCodeAt(++end));
  return end;
}

/**
 * Calls `onSet` for each set and `onChain` for each chain `body` refers to, in order, while they
 * return true; returns false when one returned false (the scan stopped there).
 */
export function forEachReference(body: string, onSet: (name: string) => boolean, onChain: (name: string) => boolean): boolean {
  // Only where `@`, `jump ` or `goto ` stands can a reference start: from one to the next.
  for (let i = 0; ; ) {
    const at = body.indexOf('@', i);
    const jump = body.indexOf('jump ', i);
    const go = body.indexOf('goto ', i);
    let next = at;
    if (jump >= 0 && (next < 0 || jump < next)) next = jump;
    if (go >= 0 && (next < 0 || go < next)) next = go;
    if (next < 0) return true;
    if (next === at) {
      const end = nameEnd(body, at + 1);
      if (end > at + 1) {
        if (!onSet(body.slice(at + 1, end))) return false;
        i = end;
        continue;
      }
    } else {
      // `\b` before the word, and a chain name starting with a letter after it.
      const before = next === 0 ? 128 : body.charCodeAt(next - 1);
      const first = body.charCodeAt(next + 5);
      if ((before >= 128 || WORD_CHAR[before] === 0) && isLetter(first)) {
        const end = nameEnd(body, next + 5);
        if (!onChain(body.slice(next + 5, end))) return false;
        i = end;
        continue;
      }
    }
    i = next + 1;
  }
}
