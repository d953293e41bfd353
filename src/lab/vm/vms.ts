/**
 * `margay lab vm add|delete|console|exec`: VMs on lab hosts, networked by Margay as OpenStack
 * does it. A VM gets a port (through Neutron's API in an OpenStack lab; written directly in etcd
 * for stand-ins and tests, see direct-port.ts), a tap in its host's namespace (as nova/libvirt
 * makes it), then boots — a real QEMU microvm, or with `--stand-in` a namespace behind a veth named
 * like the tap — and must get its address by DHCP from the host's dnsmasq.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../../os/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import { createNetns, deleteNetns } from '../fabric.ts';
import { LAB_PREFIX } from '../plan.ts';
import { pollUntil } from '../poll.ts';
import { isRunning, type ProcessRecord, startProcess, stopProcess } from '../processes.ts';
import { type LabContext, requireLab } from '../lab.ts';
import { type LabState, type LabVm, writeState } from '../state.ts';
import { consoleExec } from './console.ts';
import { createDirectPort, deleteDirectPort, type LabPort } from './direct-port.ts';
import { createNeutronPort, deleteNeutronPort } from './neutron-port.ts';
import { NeutronApi } from '../openstack/neutron-api.ts';
import { vmCacheDir, vmImage } from './image.ts';
import { createStandInVeth, createTap, removeLink } from './links.ts';
import { bootWatched } from './boot-watchdog.ts';
import { hostTscKhz, QEMU, qemuArgs, requireQemu } from './qemu.ts';

/** How long a VM may take to boot and get its address (software emulation on a loaded machine). */
const BOOT_TIMEOUT_MS = 120_000;
/**
 * How long a VM's console may stay silent before its boot counts as hung: the kernel banner
 * came within 1.2–2.8 s with 6 VMs booting at once at load 10–15 on 2 cores.
 */
const BOOT_SILENCE_MS = 10_000;
/** Boots of one VM at most before `vm add` fails (see boot-watchdog.ts). */
const BOOT_ATTEMPTS = 3;

/** Options of {@link vmAdd}. */
export interface VmAddOptions {
  name: string;
  host: string;
  /** The Neutron network (an OpenStack lab). */
  network?: string;
  securityGroups: string[];
  /** A namespace instead of a VM (scale tests). */
  standIn: boolean;
  /**
   * Write the port straight into etcd instead of asking Neutron (the stand-in and test
   * plumbing; implied by `standIn` in a lab without Neutron).
   */
  directPort?: boolean;
}

/** What `vm add` measured, from the start of the VM (or stand-in). */
export interface VmTimings {
  /** Until the address came by DHCP. */
  dhcpMs: number;
  /** Until the VM served HTTP (a real VM: its init said VM-READY). */
  readyMs: number;
}

const VM_NAME = /^[a-z0-9]([a-z0-9-]{0,30}[a-z0-9])?$/;

function vmDir(ctx: LabContext): string {
  return join(ctx.dir, 'vms');
}

/** Finds a lab VM by name. */
export function findVm(state: LabState, name: string): LabVm {
  const vm = (state.vms ?? []).find((v) => v.name === name);
  if (!vm) throw new MargayError('MARGAY_ERR_NOT_FOUND', `no VM ${JSON.stringify(name)} in the lab (see \`margay lab status\`)`);
  return vm;
}

function neutron(state: LabState): NeutronApi {
  return new NeutronApi({ url: state.openstack!.url });
}

/** The port: through Neutron in an OpenStack lab, else written directly (stand-ins, tests). */
async function createPort(state: LabState, options: VmAddOptions): Promise<{ port: LabPort; source: LabVm['portSource'] }> {
  if (state.openstack && !options.directPort) {
    if (options.network === undefined) throw new MargayError('MARGAY_ERR_USAGE', 'lab vm add: --network is required in an OpenStack lab (the Neutron network of the port)');
    const port = await createNeutronPort(neutron(state), { name: options.name, host: options.host, network: options.network, securityGroups: options.securityGroups });
    return { port, source: 'neutron' };
  }
  if (options.directPort || options.standIn) {
    return { port: await createDirectPort(state, { name: options.name, host: options.host, securityGroups: options.securityGroups }), source: 'direct' };
  }
  throw new MargayError('MARGAY_ERR_USAGE', 'lab vm add: a VM needs a Neutron port; start the lab with `margay lab up --openstack` (or use --stand-in)');
}

async function deletePort(state: LabState, vm: LabVm): Promise<void> {
  if (vm.portSource === 'neutron') await deleteNeutronPort(neutron(state), vm.portId);
  else await deleteDirectPort(state, { id: vm.portId, tap: vm.tap, mac: vm.mac, address: vm.address, ...(vm.endpointName ? { endpointName: vm.endpointName } : {}) });
}

/** `lab vm add`: port, tap, boot, DHCP; returns the VM and its timings. */
export async function vmAdd(ctx: LabContext, options: VmAddOptions): Promise<{ vm: LabVm; timings: VmTimings }> {
  if (!VM_NAME.test(options.name)) throw new MargayError('MARGAY_ERR_USAGE', `lab vm add: name ${JSON.stringify(options.name)}: 1 to 32 lower-case letters, digits and '-', starting and ending with a letter or digit`);
  const state = requireLab(ctx);
  const host = state.plan.hosts.find((h) => h.name === options.host);
  if (!host) throw new MargayError('MARGAY_ERR_NOT_FOUND', `lab vm add: --host ${options.host}: no such host (hosts: ${state.plan.hosts.map((h) => h.name).join(', ')})`);
  if ((state.vms ?? []).some((v) => v.name === options.name)) throw new MargayError('MARGAY_ERR_ALREADY_EXISTS', `VM ${options.name} already exists`);
  const image = options.standIn ? undefined : (requireQemu(), vmImage());
  mkdirSync(vmDir(ctx), { recursive: true });
  const { port, source } = await createPort(state, options);
  const vm: LabVm = {
    name: options.name,
    host: host.name,
    portId: port.id,
    portSource: source,
    ...(port.endpointName ? { endpointName: port.endpointName } : {}),
    tap: port.tap,
    mac: port.mac,
    address: port.address,
    kind: options.standIn ? 'stand-in' : 'vm',
    securityGroups: options.securityGroups,
  };
  // Recorded first, so that `lab down` finds whatever follows.
  state.vms = [...(state.vms ?? []), vm];
  writeState(ctx.dir, state);
  try {
    const timings = options.standIn ? await bootStandIn(ctx, host.netns, vm) : await bootVm(ctx, host.netns, vm, image!, port.mtu);
    writeState(ctx.dir, state);
    if (timings.address !== vm.address) {
      throw new MargayError('MARGAY_ERR_NOT_READY', `VM ${vm.name} got ${timings.address} by DHCP, but its port has ${vm.address}`);
    }
    return { vm, timings: { dhcpMs: timings.dhcpMs, readyMs: timings.readyMs } };
  } catch (err) {
    await vmDelete(ctx, vm.name).catch(() => undefined);
    throw err;
  }
}

/** Throws MARGAY_ERR_NOT_READY once a VM's QEMU has exited. */
function requireRunning(name: string, record: ProcessRecord): void {
  if (!isRunning(record)) throw new MargayError('MARGAY_ERR_NOT_READY', `QEMU of VM ${name} exited; see ${record.logFile}`);
}

/** Boots QEMU on a new tap (again if its console stays silent); waits for DHCP and VM-READY on its console. */
async function bootVm(ctx: LabContext, hostNetns: string, vm: LabVm, image: ReturnType<typeof vmImage>, mtu?: number): Promise<VmTimings & { address: string }> {
  await createTap(hostNetns, vm.tap, mtu);
  vm.consoleSocket = join(vmDir(ctx), `${vm.name}.console`);
  vm.consoleLog = join(vmDir(ctx), `${vm.name}.console.log`);
  const log = vm.consoleLog;
  const tscKhz = hostTscKhz();
  let started = 0;
  await bootWatched({
    what: `VM ${vm.name}`,
    silenceMs: BOOT_SILENCE_MS,
    attempts: BOOT_ATTEMPTS,
    log: (line) => ctx.progress(line),
    start: () => {
      rmSync(log, { force: true });
      started = performance.now();
      vm.process = startProcess({
        role: `vm ${vm.name}`,
        cmd: QEMU,
        args: qemuArgs({ name: vm.name, image, tap: vm.tap, mac: vm.mac, consoleSocket: vm.consoleSocket!, consoleLog: log, tscKhz }),
        netns: hostNetns,
        logFile: join(vmDir(ctx), `${vm.name}.qemu.log`),
      });
      const record = vm.process;
      return {
        spoke: () => {
          requireRunning(vm.name, record);
          return existsSync(log) && statSync(log).size > 0;
        },
        stop: () => stopProcess(record, 3000),
      };
    },
  });
  let dhcpMs: number | undefined;
  let address: string | undefined;
  const ready = await pollUntil(() => {
    requireRunning(vm.name, vm.process!);
    let text = '';
    try {
      text = readFileSync(log, 'utf8');
    } catch {
      return undefined;
    }
    const dhcp = /DHCP: ([0-9.]+)\//.exec(text);
    if (dhcp && dhcpMs === undefined) {
      dhcpMs = performance.now() - started;
      address = dhcp[1]!;
    }
    return text.includes('VM-READY') ? performance.now() - started : undefined;
  }, { deadline: Date.now() + BOOT_TIMEOUT_MS, intervalMs: 50 });
  if (ready === undefined || address === undefined) {
    throw new MargayError('MARGAY_ERR_NOT_READY', `VM ${vm.name} did not get an address by DHCP within ${BOOT_TIMEOUT_MS / 1000} s; see ${log}`);
  }
  return { dhcpMs: dhcpMs!, readyMs: ready, address };
}

/** A namespace behind a veth named like the tap: DHCP with busybox udhcpc, HTTP with busybox httpd. */
async function bootStandIn(ctx: LabContext, hostNetns: string, vm: LabVm): Promise<VmTimings & { address: string }> {
  vm.netns = `${LAB_PREFIX}vm-${vm.name}`;
  await createNetns(vm.netns);
  await createStandInVeth(hostNetns, vm.tap, vm.netns, vm.mac);
  const started = performance.now();
  // The VM image's own DHCP hook (scripts/build-vm-image.sh installs it beside the image).
  const script = join(vmCacheDir(), 'udhcpc.script');
  const res = await exec('busybox', ['udhcpc', '-i', 'eth0', '-n', '-q', '-f', '-t', '20', '-T', '1', '-O', 'staticroutes', '-O', 'mtu', '-s', script], { netns: vm.netns, timeoutMs: 60_000, allowFail: true });
  const dhcp = /DHCP: ([0-9.]+)\//.exec(res.stdout);
  if (res.code !== 0 || !dhcp) throw new MargayError('MARGAY_ERR_NOT_READY', `stand-in ${vm.name} got no address by DHCP: ${(res.stderr || res.stdout).trim().split('\n').slice(-2).join('; ')}`);
  const dhcpMs = performance.now() - started;
  const www = join(vmDir(ctx), `${vm.name}.www`);
  mkdirSync(www, { recursive: true });
  await exec('sh', ['-c', `echo ${vm.name} > ${www}/index.html`]);
  vm.process = startProcess({ role: `vm ${vm.name}`, cmd: 'busybox', args: ['httpd', '-f', '-p', '80', '-h', www], netns: vm.netns, logFile: join(vmDir(ctx), `${vm.name}.httpd.log`) });
  return { dhcpMs, readyMs: performance.now() - started, address: dhcp[1]! };
}

/** `lab vm delete`: the VM (or stand-in) stopped, its wire removed, its port deleted. */
export async function vmDelete(ctx: LabContext, name: string): Promise<void> {
  const state = requireLab(ctx);
  const vm = findVm(state, name);
  const host = state.plan.hosts.find((h) => h.name === vm.host);
  if (vm.process) await stopProcess(vm.process, 3000);
  if (host) await removeLink(host.netns, vm.tap);
  if (vm.netns) await deleteNetns(vm.netns);
  await deletePort(state, vm);
  state.vms = (state.vms ?? []).filter((v) => v.name !== name);
  writeState(ctx.dir, state);
}

/**
 * The shell of a stand-in: busybox's, as in the VM image, so a command finds the same applets
 * (`nc`, `wget`, `udhcpc`, `ip`…) in both; the host's `sh` would look them up in the machine's
 * PATH, where `nc` may not exist at all (every probe from a stand-in then failed as if denied).
 */
export function standInShell(command: string): { cmd: string; args: string[] } {
  return { cmd: 'busybox', args: ['sh', '-c', command] };
}

/** Runs a shell command inside a VM (its console) or a stand-in (its namespace, busybox's shell). */
export async function vmExec(ctx: LabContext, name: string, command: string, timeoutMs = 20_000): Promise<{ code: number; output: string }> {
  const vm = findVm(requireLab(ctx), name);
  if (vm.kind === 'stand-in') {
    const shell = standInShell(command);
    const res = await exec(shell.cmd, shell.args, { netns: vm.netns!, allowFail: true, timeoutMs });
    return { code: res.code, output: `${res.stdout}${res.stderr}`.trimEnd() };
  }
  return consoleExec(vm.consoleSocket!, command, timeoutMs);
}
