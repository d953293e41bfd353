import { z } from 'zod';
import { allKinds } from './src/api/kinds/mod.ts';
import crd from '/tmp/crd-fields.json' with { type: 'json' };
function inner(s: any): any[] {
  const d = s._zod.def;
  switch (d.type) {
    case 'optional': case 'nullable': case 'default': case 'prefault': case 'readonly': case 'catch': case 'nonoptional': return inner(d.innerType);
    case 'pipe': return inner(d.in);
    case 'lazy': return inner(d.getter());
    case 'union': return d.options.flatMap(inner);
    default: return [s];
  }
}
function at(s: any, parts: string[]): any[] {
  let cur = inner(s);
  for (const p of parts) {
    const next: any[] = [];
    for (const c of cur) {
      const d = c._zod.def;
      if (p === '[]' && d.type === 'array') next.push(...inner(d.element));
      else if (p === '{}' && d.type === 'record') next.push(...inner(d.valueType));
      else if (d.type === 'object' && d.shape[p]) next.push(...inner(d.shape[p]));
    }
    cur = next;
  }
  return cur;
}
const split = (p: string) => p.replace(/\[\]/g, '.[]').replace(/\{\}/g, '.{}').split('.').filter(Boolean);
const sample: Record<string, unknown> = { string: 'x', integer: 1, boolean: true, array: [], object: {} };
for (const def of allKinds) {
  const theirs = (crd as any).kinds[def.kind]?.fields; if (!theirs) continue;
  for (const [p, f] of Object.entries<any>(theirs)) {
    const subs = at(def.specSchema, split(p)); if (!subs.length) continue;
    const accepts = (v: unknown) => subs.some((s) => s.safeParse(v).success);
    const types = subs.map((s) => s._zod.def.type).join('|');
    if (f.enum) { const bad = f.enum.filter((v: unknown) => !accepts(v)); if (bad.length) console.log(def.kind, p, 'ENUM refused', bad, types); if (accepts('NotAnEnumValue')) console.log(def.kind, p, 'ENUM open', f.enum); }
    const t = f['x-kubernetes-int-or-string'] ? 'int-or-string' : f.type;
    const jt = new Set(subs.map((s) => s._zod.def.type));
    const ok = t === 'int-or-string' ? (jt.has('number') || jt.has('string') || jt.has('unknown')) : t === 'integer' ? (jt.has('number') || jt.has('unknown')) : jt.has(t) || jt.has('unknown') || jt.has('any') || (t === 'string' && (jt.has('enum') || jt.has('literal')));
    if (!ok) console.log(def.kind, p, 'TYPE crd', t, 'margay', [...jt]);
    if (t === 'int-or-string' && !(jt.has('number') && jt.has('string'))) console.log(def.kind, p, 'INTORSTR margay', [...jt]);
    if (f.pattern && typeof f.pattern === 'string') {
      const m = /^\^\(\?i\)\((.*)\)\??\$$/.exec(f.pattern);
      if (m) { const bad = m[1].split('|').filter((v: string) => !accepts(v)); if (bad.length) console.log(def.kind, p, 'PATTERN alt refused', bad); }
    }
    if (f.maxLength && accepts('a'.repeat(f.maxLength + 1)) ) console.log(def.kind, p, 'MAXLEN not enforced', f.maxLength);
  }
}
console.log('--- disagreements on candidate values');
for (const def of allKinds) {
  const theirs = (crd as any).kinds[def.kind]?.fields; if (!theirs) continue;
  for (const [p, f] of Object.entries<any>(theirs)) {
    if (f.type !== 'string' || (!f.enum && !f.pattern)) continue;
    const subs = at(def.specSchema, split(p)); if (!subs.length) continue;
    const accepts = (v: unknown) => subs.some((s) => s.safeParse(v).success);
    let re: RegExp | undefined;
    if (f.pattern) { let src = f.pattern as string; let flags = ''; if (src.includes('(?i)')) { src = src.replace('(?i)', ''); flags = 'i'; } try { re = new RegExp(src, flags); } catch { console.log('cannot compile', p, f.pattern); continue; } }
    const crdOK = (v: string) => (f.enum ? f.enum.includes(v) : true) && (re ? re.test(v) : true);
    const cands = new Set<string>(['', 'x', 'Foo', '1', '10s', '1.2.3.4', '1.2.3.0/24', 'eth0', 'a=b', 'a=true', 'Enabled', 'enabled', 'Disabled', 'Auto', '1:2', '65535', '0', 'ab'.repeat(40)]);
    for (const e of f.enum ?? []) { cands.add(e); cands.add(String(e).toLowerCase()); cands.add(String(e).toUpperCase()); }
    if (re) { const m = /\((.*)\)/.exec(f.pattern); if (m) for (const a of m[1].split('|')) { cands.add(a); cands.add(a.toLowerCase()); } }
    const diffs: string[] = [];
    for (const c of cands) { const a = crdOK(c), b = accepts(c); if (a !== b) diffs.push(`${JSON.stringify(c.length > 20 ? c.slice(0, 8) + '…' : c)}: crd ${a ? 'ok' : 'no'} margay ${b ? 'ok' : 'no'}`); }
    if (diffs.length) console.log(def.kind, p, f.pattern ?? f.enum, '\n   ', diffs.join('; '));
  }
}
console.log('--- bounds');
for (const def of allKinds) {
  const theirs = (crd as any).kinds[def.kind]?.fields; if (!theirs) continue;
  for (const [p, f] of Object.entries<any>(theirs)) {
    const subs = at(def.specSchema, split(p)); if (!subs.length) continue;
    const accepts = (v: unknown) => subs.some((s) => s.safeParse(v).success);
    const out: string[] = [];
    if (f.minimum !== undefined) { if (accepts(f.minimum - 1)) out.push(`accepts min-1 ${f.minimum - 1}`); if (!accepts(f.minimum)) out.push(`refuses min ${f.minimum}`); }
    if (f.maximum !== undefined) { if (accepts(f.maximum + 1)) out.push(`accepts max+1`); if (!accepts(f.maximum)) out.push(`refuses max ${f.maximum}`); }
    if (f.maxItems !== undefined) { const el = at(def.specSchema, split(p + '[]')); /* skip */ if (accepts(Array(f.maxItems + 1).fill(undefined))) out.push('accepts maxItems+1 (undefined elements)'); }
    if (out.length) console.log(def.kind, p, out.join('; '));
  }
}
