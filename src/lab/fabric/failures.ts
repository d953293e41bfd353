/**
 * Failures of a lab fabric, on demand: a link cut (one end set down: both sides lose the carrier),
 * a router failing silently (all its traffic dropped, then its FRR killed: its neighbours notice
 * only through BFD or the hold timer, as with a hung or powered-off switch whose optics stay lit),
 * and each coming back. A host failing cuts all its uplinks at the leaves (hosts.ts).
 */
import { exec } from '../../os/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import { isRunning, stopProcess } from '../processes.ts';
import type { LabState } from '../state.ts';
import { setLinkEnd, startRouterFrr } from './build.ts';
import { type FabricPlan, findLink, findRouter, type LinkEnd } from './plan.ts';

/** The fabric of a lab, or a usage error for a lab without one. */
export function requireFabric(state: LabState): FabricPlan {
  if (!state.plan.fabric) throw new MargayError('MARGAY_ERR_USAGE', 'this lab has no fabric: start it with `margay lab up --fabric leaf-spine`');
  return state.plan.fabric;
}

/** Cuts (or restores) the link between two nodes of the fabric (`host-1 leaf-1a`, `leaf-1a spine-1`). */
export async function setLink(state: LabState, x: string, y: string, up: boolean): Promise<LinkEnd> {
  const link = findLink(requireFabric(state), x, y);
  // The router's end goes down, as a pulled cable at the switch port.
  const end = link.a.node.startsWith('host-') ? link.b : link.a;
  await setLinkEnd(end, up);
  return end;
}

/** Cuts (or restores) every uplink of a fabric host at its leaves. */
export async function setHostUplinks(plan: FabricPlan, host: string, up: boolean): Promise<void> {
  for (const l of plan.links) {
    if (l.a.node === host) await setLinkEnd(l.b, up);
    else if (l.b.node === host) await setLinkEnd(l.a, up);
  }
}

const FAIL_TABLE = 'mgl_failed';

/**
 * Makes a router fail silently: every packet in its namespace dropped (so its neighbours get no
 * FIN, no RST, no carrier loss), then its FRR killed. Returns the records of the daemons killed.
 */
export async function failRouter(state: LabState, name: string): Promise<number> {
  const router = findRouter(requireFabric(state), name);
  const rules = `table inet ${FAIL_TABLE} {\n chain drop_in { type filter hook input priority -300; policy drop; }\n chain drop_fwd { type filter hook forward priority -300; policy drop; }\n chain drop_out { type filter hook output priority -300; policy drop; }\n}\n`;
  await exec('nft', ['-f', '-'], { netns: router.netns, input: rules });
  const daemons = state.processes.filter((p) => p.role === `frr ${name}` && isRunning(p));
  for (const p of daemons) process.kill(p.pid, 'SIGKILL');
  await Promise.all(daemons.map((p) => stopProcess(p, 2000)));
  return daemons.length;
}

/** Brings a failed router back: traffic flows again and FRR starts afresh; returns the new records. */
export async function recoverRouter(labDir: string, state: LabState, name: string): Promise<void> {
  const plan = requireFabric(state);
  const router = findRouter(plan, name);
  await exec('nft', ['delete', 'table', 'inet', FAIL_TABLE], { netns: router.netns, allowFail: true });
  const records = await startRouterFrr(labDir, plan, router);
  state.processes = [...state.processes.filter((p) => p.role !== `frr ${name}`), ...records];
}
