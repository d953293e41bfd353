/**
 * How `margay ipam` prints: calicoctl's bordered utilisation table, the holder of one address,
 * and the check report. Pure.
 */
import type { CheckReport } from './check.ts';
import type { AssignmentInfo } from './ipam.ts';
import type { Usage, UsageRow } from './usage.ts';

/** A number as Go's `%.5g` prints it (calicoctl's format: `65536`, `1.6777e+07`). */
export function formatG5(value: bigint): string {
  if (value === 0n) return '0';
  const n = Number(value);
  const [mantissa, expText] = n.toExponential(4).split('e') as [string, string];
  const exp = Number(expText);
  const trim = (s: string): string => (s.includes('.') ? s.replace(/0+$/, '').replace(/\.$/, '') : s);
  if (exp < -4 || exp >= 5) return `${trim(mantissa)}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  return trim(n.toPrecision(5));
}

function percent(part: bigint, total: bigint): string {
  if (total === 0n) return '0%';
  return `${Math.round((Number(part) * 100) / Number(total))}%`;
}

/** Draws a table with borders: headers centred, numeric cells right-aligned. */
export function borderedTable(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const rule = `+${widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const centre = (s: string, w: number): string => {
    const left = Math.floor((w - s.length) / 2);
    return `${' '.repeat(left)}${s}${' '.repeat(w - s.length - left)}`;
  };
  const line = (cells: string[], header: boolean): string =>
    `| ${cells.map((c, i) => (header ? centre(c, widths[i]!) : /^[0-9.e+]+$/.test(c) ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ')} |`;
  return [rule, line(headers, true), rule, ...rows.map((r) => line(r, false)), rule].join('\n') + '\n';
}

function cells(grouping: string, row: UsageRow & { cidr: string }): string[] {
  return [grouping, row.cidr, formatG5(row.total), `${formatG5(row.inUse)} (${percent(row.inUse, row.total)})`, `${formatG5(row.free)} (${percent(row.free, row.total)})`];
}

/** The `ipam show` table; with `showBlocks`, a row per block under its pool. */
export function renderUsage(usage: Usage, options: { showBlocks: boolean }): string {
  const rows: string[][] = [];
  for (const pool of usage.pools) {
    rows.push(cells('IP Pool', pool));
    if (options.showBlocks) for (const b of pool.blocks) rows.push(cells('Block', b));
  }
  if (options.showBlocks) for (const b of usage.strayBlocks) rows.push(cells('Block (no pool)', b));
  return borderedTable(['GROUPING', 'CIDR', 'IPS TOTAL', 'IPS IN USE', 'IPS FREE'], rows);
}

/** The `ipam show --ip` answer. */
export function renderAssignment(ip: string, info: AssignmentInfo | undefined, inPool: string | undefined): string {
  if (!info) return inPool ? `IP ${ip} is not assigned (pool ${inPool})\n` : `IP ${ip} is not assigned and is not in any IP pool\n`;
  const lines = info.releasedAt
    ? [`IP ${info.address} was released at ${info.releasedAt} and is cooling down`]
    : [`IP ${info.address} is in use`, `Handle: ${info.handle ?? '-'}`];
  lines.push(`Block: ${info.block} (${info.affinity ? `affinity ${info.affinity}` : 'no affinity'})`);
  const attrs = Object.entries(info.attributes).sort(([a], [b]) => (a < b ? -1 : 1));
  if (attrs.length > 0) lines.push('Attributes:', ...attrs.map(([k, v]) => `  ${k}: ${v}`));
  return lines.join('\n') + '\n';
}

/** The `ipam check` report. */
export function renderCheck(report: CheckReport): string {
  const lines = [
    'Checking IPAM for inconsistencies...',
    `Read ${report.blocks} block(s), ${report.affinities} affinity record(s) and ${report.handles} handle(s) at revision ${report.revision}.`,
    `Found ${report.allocations} allocation(s): ${report.inUse} used by workload endpoints, ${report.tunnel} tunnel address(es), ` +
      `${report.cooling} cooling down, ${report.assumedValid} naming no workload (assumed valid).`,
  ];
  if (report.problems.length > 0) {
    lines.push('', `Problems (${report.problems.length}):`, ...report.problems.map((p) => `  [${p.kind}] ${p.message}`));
  }
  if (report.warnings.length > 0) {
    lines.push('', `Warnings (${report.warnings.length}):`, ...report.warnings.map((p) => `  [${p.kind}] ${p.message}`));
  }
  lines.push('', report.problems.length === 0 ? 'IPAM is consistent.' : `Found ${report.problems.length} problem(s).`);
  return lines.join('\n') + '\n';
}
