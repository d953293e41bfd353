/**
 * `margay lab connectivity`: probes every ordered pod pair over the real dataplane and sets the
 * result beside what `margay policy matrix` computes from the datastore (the same calculation
 * code the agents run), marking every cell where the two disagree.
 */
import type { MatrixPort } from '../calc/evaluate.ts';
import { allKinds } from '../api/kinds/mod.ts';
import type { Resource } from '../api/resource.ts';
import { PolicyView, runMatrix } from '../cli/commands/policy.ts';
import { formatTable } from '../cli/output.ts';
import { openStore, probe } from './lab.ts';
import type { PortSpec } from './serve.ts';
import type { LabState } from './state.ts';

/** One cell: what policy says and what the probe saw. */
export interface ConnectivityCell {
  from: string;
  to: string;
  port: string;
  expected: 'allow' | 'deny';
  /** `not-served`: the destination pod does not serve this port, so nothing was probed. */
  observed: 'allow' | 'deny' | 'not-served';
}

/** The whole comparison. */
export interface ConnectivityReport {
  pods: string[];
  ports: string[];
  cells: ConnectivityCell[];
  mismatches: number;
}

async function readAllResources(state: LabState): Promise<Resource[]> {
  const store = openStore(state);
  try {
    const lists = await Promise.all(allKinds.map((k) => store.list(k)));
    return lists.flatMap((l) => l.items);
  } finally {
    await store.datastore.close();
  }
}

/** Runs `tasks` with at most `limit` at once. */
async function pool<T>(tasks: (() => Promise<T>)[], limit: number): Promise<T[]> {
  const results: T[] = new Array(tasks.length);
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) {
        const i = next++;
        results[i] = await tasks[i]!();
      }
    }),
  );
  return results;
}

/** Options of {@link connectivity}. */
export interface ConnectivityOptions {
  /** Per-probe timeout (default 1000 ms). */
  timeoutMs?: number;
  /** Probes at once (default 8). */
  concurrency?: number;
  /** Probe and evaluate this IP family (default 4). */
  ipVersion?: 4 | 6;
}

/** Probes every pair on every port and compares with the policy matrix. */
export async function connectivity(state: LabState, ports: PortSpec[], options: ConnectivityOptions = {}): Promise<ConnectivityReport> {
  const pods = state.pods.map((p) => `${p.namespace}/${p.name}`);
  const view = new PolicyView(await readAllResources(state));
  const matrixPorts: MatrixPort[] = ports.map((p) => ({ protocol: p.protocol, port: p.port }));
  const ipVersion = options.ipVersion ?? 4;
  const expected = runMatrix(view, { ports: matrixPorts, endpoints: pods, ipVersion });
  const tasks: (() => Promise<ConnectivityCell>)[] = [];
  expected.ports.forEach((portLabel, pi) => {
    for (const from of state.pods) {
      for (const to of state.pods) {
        const fromName = `${from.namespace}/${from.name}`;
        const toName = `${to.namespace}/${to.name}`;
        const address = to.addresses.find((a) => a.includes(':') === (ipVersion === 6));
        const served = to.serve.includes(`${ports[pi]!.port}/${ports[pi]!.protocol}`);
        tasks.push(async () => {
          const cell = { from: fromName, to: toName, port: portLabel, expected: expected.matrix[portLabel]![fromName]![toName]! };
          if (!served) return { ...cell, observed: 'not-served' as const };
          const seen = address ? await probe(from.netns, address, ports[pi]!, options.timeoutMs ?? 1000) : { ok: false };
          return { ...cell, observed: seen.ok ? ('allow' as const) : ('deny' as const) };
        });
      }
    }
  });
  const cells = await pool(tasks, options.concurrency ?? 8);
  return { pods, ports: expected.ports, cells, mismatches: cells.filter((c) => c.observed !== 'not-served' && c.expected !== c.observed).length };
}

/** The report as tables: one per port, each cell `expected/observed`, mismatches marked with `!`. */
export function renderConnectivity(report: ConnectivityReport): string {
  const blocks = report.ports.map((port) => {
    const rows = report.pods.map((from) => [
      from,
      ...report.pods.map((to) => {
        const cell = report.cells.find((c) => c.port === port && c.from === from && c.to === to)!;
        if (cell.observed === 'not-served') return `${cell.expected}/-`;
        return cell.expected === cell.observed ? cell.observed : `${cell.expected}/${cell.observed}!`;
      }),
    ]);
    return `${port} (rows: from, columns: to; "expected/observed!" marks a mismatch, "/-" a port the pod does not serve)\n${formatTable(['FROM\\TO', ...report.pods], rows)}`;
  });
  const probed = report.cells.filter((c) => c.observed !== 'not-served').length;
  const summary = report.mismatches === 0
    ? `All ${probed} probes agree with policy.\n`
    : `${report.mismatches} of ${probed} probes disagree with policy.\n`;
  return `${blocks.join('\n')}\n${summary}`;
}
