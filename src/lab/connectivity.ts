/**
 * `margay lab connectivity`: probes every ordered pod pair over the real dataplane and sets the
 * result beside what `margay policy matrix` computes from the datastore (the same calculation
 * code the agents run), marking every cell where the two disagree.
 */
import type { MatrixPort } from '../calc/mod.ts';
import { allKinds } from '../api/mod.ts';
import type { Resource } from '../api/mod.ts';
import { PolicyView, runMatrix } from '../policy/mod.ts';
import { formatTable } from '../format/mod.ts';
import { probeMany, withStore } from './lab.ts';
import { formatPortSpec, type PortSpec } from './serve.ts';
import type { LabPod, LabState } from './state.ts';

/** One cell: what policy says and what the probe saw. */
export interface ConnectivityCell {
  from: string;
  to: string;
  port: string;
  expected: 'allow' | 'deny';
  /** `not-served`: the destination pod does not serve this port, so nothing was probed. */
  observed: 'allow' | 'deny' | 'not-served';
  /** Why a probe failed (`timeout`, `connect ECONNREFUSED …`), when it did. */
  detail?: string;
}

/** The whole comparison. */
export interface ConnectivityReport {
  /** The IP family probed. */
  ipVersion: 4 | 6;
  pods: string[];
  ports: string[];
  cells: ConnectivityCell[];
  mismatches: number;
}

/** Every resource of the lab's datastore (the policy model's input). */
export async function readAllResources(state: LabState): Promise<Resource[]> {
  const lists = await withStore(state, (store) => Promise.all(allKinds.map((k) => store.list(k))));
  return lists.flatMap((l) => l.items);
}

/** Options of {@link connectivity}. */
export interface ConnectivityOptions {
  /** Per-probe timeout (default 1000 ms). */
  timeoutMs?: number;
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
  // Every cell, then one probe process per source pod for the served ones.
  const cells: ConnectivityCell[] = [];
  const bySource = new Map<LabPod, { cell: number; address: string; port: PortSpec }[]>();
  expected.ports.forEach((portLabel, pi) => {
    const port = ports[pi]!;
    for (const from of state.pods) {
      for (const to of state.pods) {
        const cell = { from: `${from.namespace}/${from.name}`, to: `${to.namespace}/${to.name}`, port: portLabel };
        const verdict = expected.matrix[portLabel]![cell.from]![cell.to]!;
        const address = to.addresses.find((a) => a.includes(':') === (ipVersion === 6));
        const served = to.serve.includes(formatPortSpec(port));
        // A pod without an address of the family cannot be reached: observed deny, probed or not.
        cells.push({ ...cell, expected: verdict, observed: served ? 'deny' : 'not-served' });
        if (served && address) bySource.set(from, [...(bySource.get(from) ?? []), { cell: cells.length - 1, address, port }]);
      }
    }
  });
  await Promise.all(
    [...bySource].map(async ([from, probes]) => {
      const results = await probeMany(from.netns, probes, options.timeoutMs ?? 1000);
      results.forEach((r, i) => {
        const cell = cells[probes[i]!.cell]!;
        cell.observed = r.ok ? 'allow' : 'deny';
        if (!r.ok) cell.detail = r.output;
      });
    }),
  );
  return { ipVersion, pods, ports: expected.ports, cells, mismatches: cells.filter((c) => c.observed !== 'not-served' && c.expected !== c.observed).length };
}

/** The IP families a lab carries: IPv4, and IPv6 with `--ipv6`. */
export function labFamilies(state: LabState): (4 | 6)[] {
  return state.plan.options.ipv6 ? [4, 6] : [4];
}

/** {@link connectivity} for each family in turn (default: every family the lab carries). */
export async function connectivityAll(state: LabState, ports: PortSpec[], options: { timeoutMs?: number; families?: (4 | 6)[] } = {}): Promise<ConnectivityReport[]> {
  const reports: ConnectivityReport[] = [];
  for (const ipVersion of options.families ?? labFamilies(state)) reports.push(await connectivity(state, ports, { ...options, ipVersion }));
  return reports;
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
    return `${port} over IPv${report.ipVersion} (rows: from, columns: to; "expected/observed!" marks a mismatch, "/-" a port the pod does not serve)\n${formatTable(['FROM\\TO', ...report.pods], rows)}`;
  });
  const probed = report.cells.filter((c) => c.observed !== 'not-served').length;
  const summary = report.mismatches === 0
    ? `All ${probed} IPv${report.ipVersion} probes agree with policy.\n`
    : `${report.mismatches} of ${probed} IPv${report.ipVersion} probes disagree with policy.\n`;
  return `${blocks.join('\n')}\n${summary}`;
}
