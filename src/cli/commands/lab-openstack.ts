/** `margay lab openstack …`: the `openstack` CLI against the lab's neutron-server (`lab up --openstack`). */
import type { Command } from 'commander';
import { isRunning, type LabContext, type LabState, openstackEnv, requireLab } from '../../lab/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import type { CliContext } from '../context.ts';
import { formatTable } from '../../format/mod.ts';
import { registerPassthrough } from './passthrough.ts';

/** The lab's OpenStack part, or an error saying how to get one. */
function requireOpenStack(state: LabState): LabState {
  if (!state.openstack) throw new MargayError('MARGAY_ERR_USAGE', 'this lab has no OpenStack: start it with `margay lab up --openstack`');
  return state;
}

/** Rows of `lab status` for the OpenStack control plane. */
export function openstackRows(state: LabState): string[][] {
  if (!state.openstack) return [];
  return state.processes.filter((p) => p.role.startsWith('neutron-')).map((p) => [
    p.role, String(p.pid), isRunning(p) ? 'running' : 'stopped',
    p.role === 'neutron-server' ? `${state.openstack!.fabricUrl} (operator: ${state.openstack!.url})` : `${state.openstack!.url} -> ${state.openstack!.fabricUrl}`,
  ]);
}

/** Prints the OpenStack part of `lab status`. */
export function printOpenStackStatus(ctx: CliContext, state: LabState): void {
  if (!state.openstack) return;
  ctx.stdout('\nOPENSTACK\n');
  ctx.stdout(formatTable(['PROCESS', 'PID', 'STATE', 'ADDRESS'], openstackRows(state)));
}

/** Registers `lab openstack`. */
export function registerLabOpenStack(lab: Command, ctx: CliContext, labContext: (ctx: CliContext) => LabContext): void {
  registerPassthrough(lab, {
    name: 'openstack',
    description: 'Run the openstack CLI against the lab\'s Neutron: margay lab openstack network list',
    install: 'run scripts/install-deps.sh (it installs python3-openstackclient)',
    command: (args) => ({ args, env: openstackEnv(requireOpenStack(requireLab(labContext(ctx)))) }),
  });
}
