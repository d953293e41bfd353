/**
 * Heap snapshot class summary for benchmarks: the constructors (V8 node names) holding the most
 * retained-by-self bytes in a `.heapsnapshot` file, like the "Summary" view of Chrome's tools.
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
  nodes: number[];
  strings: string[];
}

/** One row of the summary: a class (or V8 node type), how many objects, their own bytes. */
export interface HeapClass {
  name: string;
  count: number;
  selfBytes: number;
}

/** Reads a heap snapshot and sums self sizes per class name; the `top` largest, largest first (all when `top` is 0). */
export function summarizeHeapSnapshot(file: string, top = 15): { total: number; classes: HeapClass[] } {
  const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const byName = new Map<string, HeapClass>();
  let total = 0;
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!]!;
    // Objects by constructor; everything else (strings, code, arrays, closures) by its V8 type.
    const name = type === 'object' || type === 'native' ? snap.strings[snap.nodes[i + nameAt]!]! : `(${type})`;
    const size = snap.nodes[i + sizeAt]!;
    total += size;
    const row = byName.get(name) ?? { name, count: 0, selfBytes: 0 };
    row.count++;
    row.selfBytes += size;
    byName.set(name, row);
  }
  const sorted = [...byName.values()].sort((a, b) => b.selfBytes - a.selfBytes);
  return { total, classes: top > 0 ? sorted.slice(0, top) : sorted };
}

/**
 * What grew between two summaries taken with `top` 0 (every class): per class, the objects and
 * bytes added, and the bytes per `unit` (say, per remote endpoint), the `top` largest growths
 * first, as a Markdown table.
 */
export function heapGrowthTable(
  before: { total: number; classes: HeapClass[] },
  after: { total: number; classes: HeapClass[] },
  options: { unit: number; unitName: string; top?: number },
): string {
  const old = new Map(before.classes.map((c) => [c.name, c]));
  const rows = after.classes
    .map((c) => ({ name: c.name, count: c.count - (old.get(c.name)?.count ?? 0), bytes: c.selfBytes - (old.get(c.name)?.selfBytes ?? 0) }))
    .sort((a, b) => b.bytes - a.bytes)
    .slice(0, options.top ?? 12);
  const per = (n: number): string => (n / options.unit).toFixed(1);
  return [
    `heap snapshot growth: ${((after.total - before.total) / 2 ** 20).toFixed(2)} MiB in objects, ${Math.round((after.total - before.total) / options.unit)} bytes per ${options.unitName}`,
    `| class | objects added per ${options.unitName} | bytes per ${options.unitName} |`,
    '|---|---:|---:|',
    ...rows.map((r) => `| ${r.name.replaceAll('|', '\\|').slice(0, 60)} | ${per(r.count)} | ${per(r.bytes)} |`),
  ].join('\n');
}

/** The summary as a Markdown table (MiB and bytes per object). */
export function heapTable(summary: { total: number; classes: HeapClass[] }): string {
  const mib = (b: number): string => (b / 2 ** 20).toFixed(2);
  const rows = summary.classes.map((c) => `| ${c.name.replaceAll('|', '\\|').slice(0, 60)} | ${c.count} | ${mib(c.selfBytes)} | ${Math.round(c.selfBytes / c.count)} |`);
  return [`heap snapshot: ${mib(summary.total)} MiB in objects`, '| class | objects | MiB | bytes each |', '|---|---:|---:|---:|', ...rows].join('\n');
}
