/**
 * `policy matrix` as a report: the verdict for every ordered pair of chosen endpoints, per port,
 * keyed by the endpoints' display names.
 */
import { type MatrixPort, policyMatrix } from '../calc/mod.ts';
import { MargayError } from '../errors/mod.ts';
import type { PolicyView } from './view.ts';

/** A port as reports show it: `80/TCP`. */
function portLabel(p: MatrixPort): string {
  return `${p.port}/${p.protocol.toUpperCase()}`;
}

/** The matrix as `-o json` prints it. */
export interface MatrixJson {
  endpoints: Array<{ name: string; key: string; kind: 'workload' | 'host'; addresses: string[] }>;
  ports: string[];
  /** `matrix[port][from][to]`. */
  matrix: Record<string, Record<string, Record<string, 'allow' | 'deny'>>>;
}

/** Computes the matrix of the chosen endpoints (default: every workload endpoint), per port. */
export function runMatrix(view: PolicyView, opts: { ports: MatrixPort[]; endpoints?: string[]; namespaces?: string[]; ipVersion?: 4 | 6 }): MatrixJson {
  let chosen = opts.endpoints?.length
    ? opts.endpoints.map((e) => {
        const r = view.resolve(e, '--endpoint');
        if (!r.endpoint) throw new MargayError('MARGAY_ERR_USAGE', `--endpoint ${e}: not an endpoint of the model`);
        return r.endpoint;
      })
    : view.endpoints.filter((e) => e.kind === 'workload');
  if (opts.namespaces?.length) chosen = chosen.filter((e) => e.kind === 'workload' && opts.namespaces!.includes(e.key.slice(0, e.key.indexOf('/'))));
  const m = policyMatrix(view.snapshot, chosen.map((e) => e.key), opts.ports, opts.ipVersion !== undefined ? { ipVersion: opts.ipVersion } : {});
  const matrix: MatrixJson['matrix'] = {};
  m.ports.forEach((p, pi) => {
    const table: Record<string, Record<string, 'allow' | 'deny'>> = {};
    chosen.forEach((from, i) => {
      const row: Record<string, 'allow' | 'deny'> = {};
      chosen.forEach((to, j) => (row[to.name] = m.verdicts[pi]![i]![j]!));
      table[from.name] = row;
    });
    matrix[portLabel(p)] = table;
  });
  return {
    endpoints: chosen.map((e) => ({ name: e.name, key: e.key, kind: e.kind, addresses: e.addresses })),
    ports: m.ports.map(portLabel),
    matrix,
  };
}
