/**
 * `lab vm connectivity`: every ordered pair of lab VMs probed with HTTP (port 80, which every lab
 * VM serves) from inside the source VM, beside what `margay policy matrix` computes for their
 * addresses from the datastore (the agents' own calculation code).
 */
import { PolicyView, runMatrix } from '../../policy/mod.ts';
import { type LabContext, requireLab } from '../lab.ts';
import { type ConnectivityCell, type ConnectivityReport, readAllResources } from '../connectivity.ts';
import { vmExec } from './vms.ts';

/**
 * A shell command that fetches `http://ADDRESS/` with busybox nc (Debian's static busybox wget
 * crashes), exit status 0 only when connected.
 */
export function httpGet(address: string, timeoutS = 2): string {
  return `r=$(printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w ${timeoutS} ${address} 80) && echo "$r" | tail -n 1`;
}

/** Probes every VM pair on 80/tcp and compares with the policy matrix. */
export async function vmConnectivity(ctx: LabContext, options: { timeoutS?: number } = {}): Promise<ConnectivityReport> {
  const state = requireLab(ctx);
  const vms = state.vms ?? [];
  const view = new PolicyView(await readAllResources(state));
  const expected = runMatrix(view, { ports: [{ protocol: 'tcp', port: 80 }], endpoints: vms.map((v) => v.address), ipVersion: 4 });
  const names = new Map(expected.endpoints.map((e, i) => [vms[i]!.name, e.name]));
  const table = expected.matrix[expected.ports[0]!]!;
  const cells: ConnectivityCell[] = [];
  // One source at a time: a VM's console runs one command at once.
  for (const from of vms) {
    for (const to of vms) {
      const verdict = table[names.get(from.name)!]![names.get(to.name)!]!;
      const res = await vmExec(ctx, from.name, httpGet(to.address, options.timeoutS ?? 2), 30_000);
      const cell: ConnectivityCell = { from: from.name, to: to.name, port: '80/TCP', expected: verdict, observed: res.code === 0 ? 'allow' : 'deny' };
      if (res.code !== 0) cell.detail = res.output.split('\n').pop() ?? '';
      cells.push(cell);
    }
  }
  return { ipVersion: 4, pods: vms.map((v) => v.name), ports: expected.ports, cells, mismatches: cells.filter((c) => c.expected !== c.observed).length };
}
