/**
 * A lab VM's wire in its host's namespace, as the hypervisor would make it: a tap QEMU opens by
 * name, or, for a stand-in, a veth named like the tap whose other end is `eth0` of a namespace.
 */
import { exec } from '../../os/mod.ts';

/** Creates the tap (up, no address, with the network's MTU when given) in `netns`. */
export async function createTap(netns: string, tap: string, mtu?: number): Promise<void> {
  await exec('ip', ['-n', netns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap']);
  await exec('ip', ['-n', netns, 'link', 'set', tap, ...(mtu !== undefined ? ['mtu', String(mtu)] : []), 'up']);
}

/** Creates `tap` in `netns` with its peer as `eth0` (MAC `mac`) in `vmNetns`, both up. */
export async function createStandInVeth(netns: string, tap: string, vmNetns: string, mac: string): Promise<void> {
  await exec('ip', ['-n', netns, 'link', 'add', tap, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', vmNetns]);
  await exec('ip', ['-n', vmNetns, 'link', 'set', 'eth0', 'address', mac]);
  await exec('ip', ['-n', vmNetns, 'link', 'set', 'eth0', 'up']);
  await exec('ip', ['-n', netns, 'link', 'set', tap, 'up']);
}

/** Removes the tap or veth (gone already is fine). */
export async function removeLink(netns: string, tap: string): Promise<void> {
  await exec('ip', ['-n', netns, 'link', 'del', tap], { allowFail: true });
}
