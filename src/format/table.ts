/**
 * Plain-text tables, kubectl style (upper-case headers, space-padded columns, no borders): the
 * CLI's `get`, the agent's health report and the lab's status and connectivity matrices.
 */

/** Lays out rows under headers, columns separated by three spaces (like kubectl's tabwriter). */
export function formatTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]!))).join('   ').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n') + '\n';
}
