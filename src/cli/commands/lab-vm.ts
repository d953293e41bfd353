/**
 * `margay lab vm …`: VMs on lab hosts, networked as OpenStack does it (src/lab/vm/).
 */
import type { Command } from 'commander';
import { attachConsole, findVm, labDir, renderConnectivity, requireLab, vmAdd, vmConnectivity, vmDelete, vmExec, type LabContext } from '../../lab/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import type { CliContext } from '../context.ts';

function labContext(ctx: CliContext): LabContext {
  return { dir: labDir(), progress: (line) => ctx.stderr(`lab: ${line}\n`) };
}

/** Registers `lab vm` under `lab`. */
export function registerLabVm(lab: Command, ctx: CliContext): void {
  const vm = lab.command('vm').description('VMs on lab hosts: a Neutron port, a tap, a real QEMU microvm that takes its address by DHCP');
  vm.command('add')
    .argument('<name>', 'the VM\'s name')
    .requiredOption('--host <host>', 'the host to boot it on (host-1 …)')
    .option('--network <network>', 'the Neutron network of its port')
    .option('--security-group <sg>', 'a security group of its port (repeatable)', (v: string, p: string[] = []) => [...p, v])
    .option('--stand-in', 'a namespace behind a veth named tap… instead of a VM (scale tests)', false)
    .action(async (name: string, opts: { host: string; network?: string; securityGroup?: string[]; standIn: boolean }) => {
      const { vm: added, timings } = await vmAdd(labContext(ctx), {
        name,
        host: opts.host,
        ...(opts.network !== undefined ? { network: opts.network } : {}),
        securityGroups: opts.securityGroup ?? [],
        standIn: opts.standIn,
        directPort: process.env.MARGAY_LAB_VM_DIRECT_PORTS === '1',
      });
      ctx.stdout(`${added.kind === 'vm' ? 'VM' : 'Stand-in'} ${name} is up on ${added.host} with ${added.address} (${added.tap}): DHCP after ${(timings.dhcpMs / 1000).toFixed(1)} s, serving after ${(timings.readyMs / 1000).toFixed(1)} s\n`);
    });
  vm.command('delete')
    .alias('rm')
    .argument('<name>', 'the VM\'s name')
    .action(async (name: string) => {
      await vmDelete(labContext(ctx), name);
      ctx.stdout(`VM ${name} deleted\n`);
    });
  vm.command('console')
    .argument('<name>', 'the VM\'s name')
    .description('Attach to the VM\'s serial console (a shell); Ctrl-] detaches')
    .action(async (name: string) => {
      const found = findVm(requireLab(labContext(ctx)), name);
      if (found.kind !== 'vm' || !found.consoleSocket) throw new MargayError('MARGAY_ERR_USAGE', `${name} is a stand-in: it has no console (use \`margay lab vm exec ${name} -- …\`)`);
      ctx.stderr(`lab: console of ${name}; Ctrl-] detaches\n`);
      await attachConsole(found.consoleSocket, { stdin: process.stdin, stdout: process.stdout });
    });
  vm.command('connectivity')
    .description('Probe every VM pair on 80/tcp from inside the VMs and compare with `margay policy matrix`')
    .action(async () => {
      const report = await vmConnectivity(labContext(ctx));
      ctx.stdout(renderConnectivity(report));
      if (report.mismatches > 0) throw new MargayError('MARGAY_ERR_PROBE_FAILED', `${report.mismatches} probe(s) disagree with policy`);
    });
  vm.command('exec')
    .argument('<name>', 'the VM\'s name')
    .argument('<command...>', 'a shell command (after --)')
    .description('Run a shell command inside the VM (through its console) and print its output')
    .action(async (name: string, command: string[]) => {
      const res = await vmExec(labContext(ctx), name, command.join(' '));
      if (res.output) ctx.stdout(`${res.output}\n`);
      if (res.code !== 0) throw new MargayError('MARGAY_ERR_COMMAND_FAILED', `${command.join(' ')} exited with ${res.code} in ${name}`);
    });
}
