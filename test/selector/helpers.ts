// Shared helpers for the selector tests: a seeded PRNG and random selector / label generators.
// (Not a test file itself: the runner only picks up *.test.ts.)

/** A small, fast, seeded PRNG (mulberry32). Returns floats in [0, 1). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export type Rng = () => number;

export function pick<T>(rng: Rng, items: readonly T[]): T {
  return items[Math.floor(rng() * items.length)] as T;
}

export function int(rng: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rng() * (hi - lo + 1));
}

export interface Vocabulary {
  keys: readonly string[];
  values: readonly string[];
}

/** Keys include words the tokenizer treats specially, to exercise "labels that look like keywords". */
export const TRICKY: Vocabulary = {
  keys: ['a', 'b', 'c', 'app', 'x.y/z-1', 'in', 'not', 'contains', 'has', 'all', 'global', 'constructor', '__proto__'],
  values: ['', 'x', 'y', 'web', "it's", 'say "hi"', 'a b', '😀', '～', 'xy'],
};

/** Few keys and values, so random selectors match random labels often. */
export const SMALL: Vocabulary = {
  keys: ['a', 'b', 'c', 'd'],
  values: ['x', 'y', 'z'],
};

function ws(rng: Rng, required = false): string {
  const r = rng();
  if (r < 0.5) return required ? ' ' : '';
  if (r < 0.85) return ' ';
  return pick(rng, ['  ', '\t', ' \t ']);
}

function quote(rng: Rng, v: string): string {
  if (v.includes('"')) return `'${v}'`;
  if (v.includes("'")) return `"${v}"`;
  return rng() < 0.5 ? `"${v}"` : `'${v}'`;
}

function leaf(rng: Rng, voc: Vocabulary): string {
  const k = pick(rng, voc.keys);
  const v = () => quote(rng, pick(rng, voc.values));
  const set = () => {
    const n = int(rng, 0, 4);
    const items = Array.from({ length: n }, v);
    const trailing = n > 0 && rng() < 0.2 ? ',' : '';
    return `{${ws(rng)}${items.join(`${ws(rng)},${ws(rng)}`)}${trailing}${ws(rng)}}`;
  };
  switch (int(rng, 0, 10)) {
    case 0:
      return `${k}${ws(rng)}==${ws(rng)}${v()}`;
    case 1:
      return `${k}${ws(rng)}!=${ws(rng)}${v()}`;
    case 2:
      return `${k}${ws(rng, true)}in${ws(rng)}${set()}`;
    case 3:
      return `${k}${ws(rng, true)}not${ws(rng)}in${ws(rng)}${set()}`;
    case 4:
    case 5:
      return `has(${ws(rng)}${k}${ws(rng)})`;
    case 6:
      return `${k}${ws(rng, true)}contains${ws(rng)}${v()}`;
    case 7:
      return `${k}${ws(rng, true)}starts${ws(rng)}with${ws(rng)}${v()}`;
    case 8:
      return `${k}${ws(rng, true)}ends${ws(rng)}with${ws(rng)}${v()}`;
    case 9:
      return rng() < 0.7 ? `all(${ws(rng)})` : `global(${ws(rng)})`;
    default:
      return `${k}${ws(rng)}==${ws(rng)}${v()}`;
  }
}

/** A random valid selector (in varied spelling: spacing, quotes, `startswith`, redundant parens...). */
export function randomSelector(rng: Rng, voc: Vocabulary, depth = 3): string {
  const nots = rng() < 0.25 ? '!'.repeat(int(rng, 1, 3)) + ws(rng) : '';
  const r = rng();
  if (depth <= 0 || r < 0.45) return nots + leaf(rng, voc);
  if (r < 0.55) return `${nots}(${ws(rng)}${randomSelector(rng, voc, depth - 1)}${ws(rng)})`;
  const n = int(rng, 2, 3);
  const op = r < 0.8 ? '&&' : '||';
  const parts = Array.from({ length: n }, () => {
    const inner = randomSelector(rng, voc, depth - 1);
    return rng() < 0.5 ? `(${inner})` : inner;
  });
  const joined = parts.join(`${ws(rng)}${op}${ws(rng)}`);
  return nots ? `${nots}(${joined})` : joined;
}

/** Random labels over a vocabulary. */
export function randomLabels(rng: Rng, voc: Vocabulary, maxKeys = voc.keys.length): Record<string, string> {
  const out: Record<string, string> = {};
  const n = int(rng, 0, maxKeys);
  for (let i = 0; i < n; i++) {
    // Defined with defineProperty so that "__proto__" becomes an ordinary own key.
    Object.defineProperty(out, pick(rng, voc.keys), {
      value: pick(rng, voc.values),
      enumerable: true,
      writable: true,
      configurable: true,
    });
  }
  return out;
}
