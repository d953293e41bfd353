/**
 * The lab's wires: namespaces, the fabric bridge (inside its own namespace, never in the
 * machine's), one veth per host, and the optional router with its second segment. Every link is
 * created directly inside lab namespaces (`ip link add … netns A type veth peer … netns B`), so
 * nothing ever appears in the machine's own namespace.
 */
import { exec } from '../os/mod.ts';
import { LAB_PREFIX, type LabHost, type LabPlan } from './plan.ts';
import { setHostUplinks } from './fabric/failures.ts';

async function ip(args: string[]): Promise<void> {
  await exec('ip', args);
}

/** Creates a namespace with its loopback up. */
export async function createNetns(name: string): Promise<void> {
  await ip(['netns', 'add', name]);
  await ip(['-n', name, 'link', 'set', 'lo', 'up']);
}

async function sysctl(netns: string, key: string, value: string): Promise<void> {
  await exec('sysctl', ['-q', '-w', `${key}=${value}`], { netns });
}

/** A bridge inside a namespace. */
async function createBridge(netns: string, bridge: string): Promise<void> {
  await ip(['-n', netns, 'link', 'add', bridge, 'type', 'bridge']);
  await ip(['-n', netns, 'link', 'set', bridge, 'up']);
}

/** Connects a namespace to a bridge: `inner` inside `netns`, the other end enslaved to `bridge`. */
async function attach(options: { netns: string; inner: string; bridgeNetns: string; bridge: string; port: string; addresses: string[] }): Promise<void> {
  const { netns, inner, bridgeNetns, bridge, port } = options;
  await ip(['link', 'add', port, 'netns', bridgeNetns, 'type', 'veth', 'peer', 'name', inner, 'netns', netns]);
  await ip(['-n', bridgeNetns, 'link', 'set', port, 'master', bridge, 'up']);
  for (const address of options.addresses) await ip(['-n', netns, 'addr', 'add', address, 'dev', inner, ...(address.includes(':') ? ['nodad'] : [])]);
  await ip(['-n', netns, 'link', 'set', inner, 'up']);
}

/** Where a host's wire ends: the bridge namespace and the port name (`h<index>`) there. */
function hostPort(plan: LabPlan, host: LabHost): { bridgeNetns: string; port: string } {
  const onSecond = host.segment === 'second' && plan.router;
  return { bridgeNetns: onSecond ? plan.router!.secondNetns : plan.fabricNetns, port: `h${plan.hosts.indexOf(host) + 1}` };
}

/** Cuts (or restores) a host's wire at the bridge, as a pulled cable or a dead NIC would. */
export async function setHostWire(plan: LabPlan, host: LabHost, up: boolean): Promise<void> {
  if (plan.fabric) return setHostUplinks(plan.fabric, host.name, up);
  const { bridgeNetns, port } = hostPort(plan, host);
  await ip(['-n', bridgeNetns, 'link', 'set', port, up ? 'up' : 'down']);
}

/** Builds one host: namespace, uplink, address, default route via the router when there is one. */
export async function buildHost(plan: LabPlan, host: LabHost): Promise<void> {
  await createNetns(host.netns);
  const onSecond = host.segment === 'second' && plan.router;
  await attach({
    netns: host.netns,
    inner: host.uplink,
    ...hostPort(plan, host),
    bridge: onSecond ? plan.router!.secondBridge : plan.fabricBridge,
    addresses: [host.address, ...(host.address6 ? [host.address6] : [])],
  });
  // A default route is what makes proxy ARP answer pods for 169.254.1.1 (the kernel answers only
  // for addresses it can route elsewhere). Without a router it points at the fabric, which is
  // closed: nothing beyond it exists.
  if (host.gateway) await ip(['-n', host.netns, 'route', 'add', 'default', 'via', host.gateway]);
  else await ip(['-n', host.netns, 'route', 'add', 'default', 'dev', host.uplink]);
  if (host.gateway6) await ip(['-n', host.netns, '-6', 'route', 'add', 'default', 'via', host.gateway6]);
  await sysctl(host.netns, 'net.ipv4.ip_forward', '1');
  await sysctl(host.netns, 'net.ipv6.conf.all.forwarding', '1');
}

/** Builds the fabric (and the router with its second segment). */
export async function buildFabric(plan: LabPlan): Promise<void> {
  await createNetns(plan.fabricNetns);
  await createBridge(plan.fabricNetns, plan.fabricBridge);
  if (!plan.router) return;
  const r = plan.router;
  await createNetns(r.secondNetns);
  await createBridge(r.secondNetns, r.secondBridge);
  await createNetns(r.netns);
  const fabric6 = r.fabricAddress6 ? [r.fabricAddress6] : [];
  const second6 = r.secondAddress6 ? [r.secondAddress6] : [];
  await attach({ netns: r.netns, inner: 'eth0', bridgeNetns: plan.fabricNetns, bridge: plan.fabricBridge, port: 'rtr0', addresses: [r.fabricAddress, ...fabric6] });
  await attach({ netns: r.netns, inner: 'eth1', bridgeNetns: r.secondNetns, bridge: r.secondBridge, port: 'rtr1', addresses: [r.secondAddress, ...second6] });
  await sysctl(r.netns, 'net.ipv4.ip_forward', '1');
  await sysctl(r.netns, 'net.ipv6.conf.all.forwarding', '1');
}

/**
 * Builds a control-plane namespace on the fabric (Kubernetes' with `--kubernetes`, Neutron's with
 * `--openstack`), with a default route via the router when there is one, so hosts behind it reach
 * the servers inside. `port` names its end on the fabric bridge.
 */
export async function buildControlNamespace(plan: LabPlan, cp: { netns: string; address: string; port: string }): Promise<void> {
  await createNetns(cp.netns);
  await attach({ netns: cp.netns, inner: 'eth0', bridgeNetns: plan.fabricNetns, bridge: plan.fabricBridge, port: cp.port, addresses: [cp.address] });
  if (plan.router) await ip(['-n', cp.netns, 'route', 'add', 'default', 'via', plan.router.fabricAddress.split('/')[0]!]);
}

/** Builds the Kubernetes control-plane namespace (`lab up --kubernetes`). */
export async function buildControlPlane(plan: LabPlan): Promise<void> {
  await buildControlNamespace(plan, { ...plan.kubernetes!, port: 'cp0' });
}

/** Every namespace of the lab that exists now (found by the lab prefix). */
export async function listLabNetns(): Promise<string[]> {
  const { stdout } = await exec('ip', ['-j', 'netns', 'list'], { allowFail: true });
  if (!stdout.trim()) return [];
  const entries = JSON.parse(stdout) as { name: string }[];
  return entries.map((e) => e.name).filter((n) => n.startsWith(LAB_PREFIX));
}

/** PIDs of every process inside a namespace. */
export async function pidsInNetns(netns: string): Promise<number[]> {
  const { stdout } = await exec('ip', ['netns', 'pids', netns], { allowFail: true });
  return stdout.split('\n').map((s) => Number(s.trim())).filter((n) => Number.isInteger(n) && n > 0);
}

/** Deletes a namespace (its links go with it). */
export async function deleteNetns(name: string): Promise<void> {
  await exec('ip', ['netns', 'delete', name], { allowFail: true });
}
