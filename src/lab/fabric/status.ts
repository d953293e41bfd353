/** The FABRIC section of `lab status`: every leaf and spine, its AS, its FRR and its sessions. */
import { frrAt, frrSessions } from '../frr.ts';
import { isRunning } from '../processes.ts';
import type { LabState } from '../state.ts';
import { routerDir } from './build.ts';

/** One row per router: NAME, ROLE, AS, FRR, SESSIONS (established/total), PREFIXES RECEIVED. */
export async function fabricRows(labDir: string, state: LabState): Promise<string[][]> {
  const plan = state.plan.fabric;
  if (!plan) return [];
  const rows: string[][] = [];
  for (const r of plan.routers) {
    const daemons = state.processes.filter((p) => p.role === `frr ${r.name}`);
    const running = daemons.length > 0 && daemons.every(isRunning);
    let sessions = '-';
    let prefixes = '-';
    if (running) {
      try {
        const list = await frrSessions(frrAt(r.netns, routerDir(labDir, r)));
        sessions = `${list.filter((s) => s.state === 'Established').length}/${list.length} up (${[...new Set(list.map((s) => s.peer))].join(',')})`;
        prefixes = String(list.reduce((n, s) => n + s.prefixesReceived, 0));
      } catch (err) {
        sessions = `unknown: ${(err as Error).message.split('\n')[0]}`;
      }
    }
    rows.push([r.name, r.role, String(r.asNumber), running ? 'running' : 'failed', sessions, prefixes]);
  }
  return rows;
}
