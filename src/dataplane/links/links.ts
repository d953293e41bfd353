/**
 * Host-side link and sysctl configuration for Margay's routed model (calico-facts §1, "gateway
 * trick"): the host end of a workload veth has MAC `ee:ee:ee:ee:ee:ee`, no address, answers ARP for
 * everything (proxy ARP, no delay) so the workload's gateway 169.254.1.1 resolves, and forwards.
 * For IPv6 it proxies NDP and ignores router advertisements.
 *
 * These are functions the agent and the CNI service call; each takes a {@link CommandRunner}, so
 * it targets whatever namespace the runner runs in. Sysctls are written through `/proc/sys` with
 * `tee` (no shell), which works for interface names that contain dots.
 */
import type { CommandRunner } from '../../os/mod.ts';

/** The MAC address of the host side of every workload veth. */
export const WORKLOAD_HOST_MAC = 'ee:ee:ee:ee:ee:ee';

/** The link-local IPv6 address the host side gets from {@link WORKLOAD_HOST_MAC} (the workloads' v6 gateway). */
export const WORKLOAD_HOST_LINK_LOCAL_V6 = 'fe80::ecee:eeff:feee:eeee';

/** The IPv4 gateway address workloads route through (answered by proxy ARP). */
export const WORKLOAD_GATEWAY_V4 = '169.254.1.1';

/** Throws unless `name` is a valid Linux interface name (which also keeps /proc paths safe). */
export function checkInterfaceName(name: string): void {
  if (name.length === 0 || name.length > 15 || name === '.' || name === '..' || /[\s/:]/.test(name)) {
    throw new Error(`interface name ${JSON.stringify(name)} is not valid: 1 to 15 characters, no '/', ':' or whitespace`);
  }
}

/** Writes a sysctl given as a /proc/sys relative path (`net/ipv4/conf/cali1/proxy_arp`). */
export async function writeSysctl(runner: CommandRunner, path: string, value: string): Promise<void> {
  if (path.split('/').some((p) => p === '..' || p === '')) throw new Error(`sysctl path ${JSON.stringify(path)} is not valid`);
  await runner('tee', [`/proc/sys/${path}`], { input: `${value}\n` });
}

/** Reads a sysctl given as a /proc/sys relative path. */
export async function readSysctl(runner: CommandRunner, path: string): Promise<string> {
  if (path.split('/').some((p) => p === '..' || p === '')) throw new Error(`sysctl path ${JSON.stringify(path)} is not valid`);
  const res = await runner('cat', [`/proc/sys/${path}`]);
  return res.stdout.trim();
}

/** The sysctls a workload interface needs, as (path, value) pairs. */
export function workloadInterfaceSysctls(iface: string, families: { ipv4?: boolean; ipv6?: boolean } = {}): Array<[string, string]> {
  checkInterfaceName(iface);
  const out: Array<[string, string]> = [];
  if (families.ipv4 ?? true) {
    out.push(
      [`net/ipv4/conf/${iface}/forwarding`, '1'],
      [`net/ipv4/conf/${iface}/route_localnet`, '1'],
      [`net/ipv4/conf/${iface}/proxy_arp`, '1'],
      [`net/ipv4/neigh/${iface}/proxy_delay`, '0'],
    );
  }
  if (families.ipv6 ?? false) {
    out.push([`net/ipv6/conf/${iface}/accept_ra`, '0'], [`net/ipv6/conf/${iface}/proxy_ndp`, '1'], [`net/ipv6/conf/${iface}/forwarding`, '1']);
  }
  return out;
}

/** Sets the host-side sysctls of a workload interface (proxy ARP/NDP, forwarding, …). */
export async function configureWorkloadInterface(
  runner: CommandRunner,
  iface: string,
  families: { ipv4?: boolean; ipv6?: boolean } = {},
): Promise<void> {
  for (const [path, value] of workloadInterfaceSysctls(iface, families)) await writeSysctl(runner, path, value);
}

/** The global sysctls the host needs to route workload traffic. */
export function hostSysctls(families: { ipv6?: boolean } = {}): Array<[string, string]> {
  const out: Array<[string, string]> = [['net/ipv4/ip_forward', '1']];
  if (families.ipv6 ?? false) out.push(['net/ipv6/conf/all/forwarding', '1']);
  return out;
}

/** Turns on IP forwarding (and IPv6 forwarding when asked). */
export async function configureHostForwarding(runner: CommandRunner, families: { ipv6?: boolean } = {}): Promise<void> {
  for (const [path, value] of hostSysctls(families)) await writeSysctl(runner, path, value);
}

/**
 * Gives the host side of a workload veth its fixed MAC and brings it up (the link is taken down
 * for the MAC change when needed).
 */
export async function prepareHostVeth(runner: CommandRunner, iface: string, ip = 'ip'): Promise<void> {
  checkInterfaceName(iface);
  const set = await runner(ip, ['link', 'set', 'dev', iface, 'address', WORKLOAD_HOST_MAC], { allowFail: true });
  if (set.code !== 0) {
    await runner(ip, ['link', 'set', 'dev', iface, 'down']);
    await runner(ip, ['link', 'set', 'dev', iface, 'address', WORKLOAD_HOST_MAC]);
  }
  await runner(ip, ['link', 'set', 'dev', iface, 'up']);
}
