/**
 * How the CLI prints resources: kubectl-style tables (upper-case headers, space-padded, no
 * borders), YAML and JSON that apply back unchanged, and a List wrapper for several items.
 */
import { stringify } from 'yaml';
import type { Column, KindDefinition } from '../api/mod.ts';
import { API_VERSION, type Resource } from '../api/mod.ts';
import { formatTable } from '../format/mod.ts';

/** Output formats of `get -o`. */
export const OUTPUT_FORMATS = ['ps', 'wide', 'yaml', 'json'] as const;
export type OutputFormat = (typeof OUTPUT_FORMATS)[number];

/** Puts a resource's keys in the canonical order (apiVersion, kind, metadata, spec, status). */
function ordered(res: Resource): Resource {
  const out: Resource = { apiVersion: res.apiVersion, kind: res.kind, metadata: res.metadata };
  if (res.spec !== undefined) out.spec = res.spec;
  if (res.status !== undefined) out.status = res.status;
  return out;
}

/** The columns of a kind's table after NAME: `columns`, then for wide the `wideColumns` not already shown. */
export function tableColumns(def: KindDefinition, wide: boolean): Column[] {
  if (!wide) return def.columns;
  const shown = new Set(def.columns.map((c) => c.header));
  return [...def.columns, ...def.wideColumns.filter((c) => !shown.has(c.header))];
}

/** One resource as itself, several as a `<Kind>List`. */
function wrap(def: KindDefinition | undefined, items: Resource[], revision: number | undefined, single: boolean): unknown {
  if (single && items.length === 1) return ordered(items[0]!);
  const list: Record<string, unknown> = {
    apiVersion: API_VERSION,
    kind: def ? `${def.kind}List` : 'List',
    metadata: revision === undefined ? {} : { resourceVersion: String(revision) },
    items: items.map(ordered),
  };
  return list;
}

/** Renders resources in the chosen format. `single` prints a lone named resource unwrapped. */
export function renderResources(
  def: KindDefinition | undefined,
  items: Resource[],
  options: { format: OutputFormat; revision?: number; single: boolean; showNamespace: boolean },
): string {
  switch (options.format) {
    case 'yaml':
      return stringify(wrap(def, items, options.revision, options.single), { lineWidth: 0 });
    case 'json':
      return JSON.stringify(wrap(def, items, options.revision, options.single), null, 2) + '\n';
    case 'ps':
    case 'wide': {
      const columns = def ? tableColumns(def, options.format === 'wide') : [];
      const headers = [...(options.showNamespace ? ['NAMESPACE'] : []), 'NAME', ...columns.map((c) => c.header)];
      const rows = items.map((res) => [
        ...(options.showNamespace ? [res.metadata.namespace ?? ''] : []),
        res.metadata.name,
        ...columns.map((c) => c.value(res)),
      ]);
      return formatTable(headers, rows);
    }
  }
}
