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

/** Reads a heap snapshot and sums self sizes per class name; the `top` largest, largest first. */
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
  const classes = [...byName.values()].sort((a, b) => b.selfBytes - a.selfBytes).slice(0, top);
  return { total, classes };
}

/** The summary as a Markdown table (MiB and bytes per object). */
export function heapTable(summary: { total: number; classes: HeapClass[] }): string {
  const mib = (b: number): string => (b / 2 ** 20).toFixed(2);
  const rows = summary.classes.map((c) => `| ${c.name.replaceAll('|', '\\|').slice(0, 60)} | ${c.count} | ${mib(c.selfBytes)} | ${Math.round(c.selfBytes / c.count)} |`);
  return [`heap snapshot: ${mib(summary.total)} MiB in objects`, '| class | objects | MiB | bytes each |', '|---|---:|---:|---:|', ...rows].join('\n');
}
