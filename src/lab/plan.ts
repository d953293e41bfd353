/**
 * The lab's address plan (docs/lab.md), computed from the options and the networks of the
 * machine it runs on: namespace names, the ranges (chosen in ranges.ts to overlap none of the
 * machine's networks), fabric addresses, router segment, pools. Pure; `lab up` records it in the
 * lab's state, so every later command uses the same names and addresses.
 */
import { MargayError } from '../errors/mod.ts';
import { chooseLabRanges, type LabRanges, nthAddress, nthIpOf, type UsedNetwork } from './ranges.ts';
import { type FabricOptions, type FabricPlan, planFabric } from './fabric/plan.ts';

/** Every namespace the lab makes starts with this, so clean-up can find all of it. */
export const LAB_PREFIX = 'mgl-';

/** The CNI network the lab's pods join. */
export const LAB_NETWORK = 'k8s-pod-network';

/** Options of a lab. */
export interface LabOptions {
  hosts: number;
  /** Add an FRR router namespace with a second segment behind it. */
  router: boolean;
  ipv6: boolean;
  /** etcd members (default 1); an odd number up to 7, e.g. 3 to show a member failing. */
  etcdMembers?: number;
  /** Run a real Kubernetes control plane and a kubelet + containerd on every host (src/lab/kubernetes). */
  kubernetes?: boolean;
  /** The first N hosts are route reflectors and the mesh is off (src/lab/route-reflectors.ts). */
  routeReflectors?: number;
  /** A leaf–spine fabric instead of one flat segment (src/lab/fabric); `hosts` is then racks × hosts per rack. */
  fabric?: FabricOptions;
  /** Run a real neutron-server with Margay's ML2 mechanism driver (src/lab/openstack). */
  openstack?: boolean;
}

/** The OpenStack part of the plan (`lab up --openstack`). */
export interface OpenStackPlan {
  /** The namespace of neutron-server. */
  netns: string;
  /** Its address on the fabric, with prefix. */
  address: string;
  /** Neutron's API port inside that namespace. */
  apiPort: number;
}

/** The Kubernetes part of the plan (`lab up --kubernetes`). */
export interface KubernetesPlan {
  /** The namespace of kube-apiserver, kube-controller-manager, kube-scheduler and `margay kube-controllers`. */
  netns: string;
  /** Its address on the fabric, with prefix; the API server's advertised address. */
  address: string;
  /** The API server's port inside that namespace. */
  apiPort: number;
  /** Service cluster IPs (virtual: nothing routes them in the lab, there is no kube-proxy). */
  serviceCidr: string;
}

/** One lab host. */
export interface LabHost {
  /** Node name (`host-1`). */
  name: string;
  /** Its network namespace (`mgl-host-1`). */
  netns: string;
  /** Its address on the fabric or the second segment, with prefix (`198.51.100.11/24`). */
  address: string;
  /** Its default gateway on the fabric, when the router exists. */
  gateway?: string;
  /** Its IPv6 address on its segment (`2001:db8::b/64`), with --ipv6. */
  address6?: string;
  /** Its IPv6 default gateway (the router on its segment), with --ipv6 and a router. */
  gateway6?: string;
  /** Which segment it sits on. */
  segment: 'fabric' | 'second';
  /** Name of its uplink inside its namespace. */
  uplink: string;
}

/** The FRR router of `--router` and the second segment behind it. */
export interface LabRouter {
  netns: string;
  fabricAddress: string;
  secondAddress: string;
  /** Its IPv6 addresses on the fabric and the second segment, with --ipv6. */
  fabricAddress6?: string;
  secondAddress6?: string;
  secondNetns: string;
  secondBridge: string;
  asNumber: number;
}

/** The whole plan. */
export interface LabPlan {
  options: LabOptions;
  /** The address ranges chosen for this machine (none overlaps its own networks). */
  ranges: LabRanges;
  fabricNetns: string;
  fabricBridge: string;
  hosts: LabHost[];
  router?: LabRouter;
  /** The cluster AS number. */
  asNumber: number;
  /** With --kubernetes. */
  kubernetes?: KubernetesPlan;
  /** With --fabric: leaves, spines, links; `hosts` are its hosts. */
  fabric?: FabricPlan;
  /** With --openstack. */
  openstack?: OpenStackPlan;
}

/** Maximum hosts: the addresses .11 … .250 of the fabric's /24. */
export const MAX_HOSTS = 240;

/** The first host's offset in its segment (host-N is at .10+N; the router is at .1). */
const HOST_OFFSET = 10;

/**
 * Builds the plan for a machine whose own networks are `machine` (none: the first candidates,
 * 192.0.2.0/24 and so on). With a router, the last host sits on the second segment behind it.
 */
export function planLab(options: LabOptions, machine: readonly UsedNetwork[]): LabPlan {
  if (options.fabric) return planFabricLab(options, options.fabric, machine);
  if (!Number.isInteger(options.hosts) || options.hosts < 1 || options.hosts > MAX_HOSTS) {
    throw new MargayError('MARGAY_ERR_USAGE', `--hosts must be a whole number from 1 to ${MAX_HOSTS}`);
  }
  const members = options.etcdMembers ?? 1;
  if (![1, 3, 5, 7].includes(members)) throw new MargayError('MARGAY_ERR_USAGE', '--etcd-members must be 1, 3, 5 or 7 (an odd number keeps a majority when one fails)');
  const rr = options.routeReflectors ?? 0;
  if (!Number.isInteger(rr) || rr < 0 || rr >= options.hosts) throw new MargayError('MARGAY_ERR_USAGE', `--route-reflectors must be a whole number from 0 to ${options.hosts - 1} (fewer than --hosts)`);
  const ranges = chooseLabRanges(machine, options);
  const hosts: LabHost[] = [];
  for (let i = 1; i <= options.hosts; i++) {
    const behindRouter = options.router && options.hosts > 1 && i === options.hosts;
    const segment = behindRouter ? ranges.second! : ranges.fabric;
    const segment6 = behindRouter ? ranges.second6 : ranges.fabric6;
    hosts.push({
      name: `host-${i}`,
      netns: `${LAB_PREFIX}host-${i}`,
      address: nthAddress(segment, HOST_OFFSET + i),
      ...(options.router ? { gateway: nthIpOf(segment, 1) } : {}),
      // Dual stack on both segments: IPv6 crosses the router exactly as IPv4 does.
      ...(segment6 ? { address6: nthAddress(segment6, HOST_OFFSET + i) } : {}),
      ...(segment6 && options.router ? { gateway6: nthIpOf(segment6, 1) } : {}),
      segment: behindRouter ? 'second' : 'fabric',
      uplink: 'eth0',
    });
  }
  const plan: LabPlan = {
    options,
    ranges,
    fabricNetns: `${LAB_PREFIX}fabric`,
    fabricBridge: 'br0',
    hosts,
    asNumber: 64512,
  };
  if (options.kubernetes) {
    // The control plane sits at the fabric's second address (the router, when there is one, has the first).
    plan.kubernetes = { netns: `${LAB_PREFIX}control`, address: nthAddress(ranges.fabric, 2), apiPort: 6443, serviceCidr: ranges.services! };
  }
  if (options.openstack) {
    // neutron-server at the fabric's third address (Kubernetes' API server has the second).
    plan.openstack = { netns: `${LAB_PREFIX}openstack`, address: nthAddress(ranges.fabric, 3), apiPort: 9696 };
  }
  if (options.router) {
    plan.router = {
      netns: `${LAB_PREFIX}router`,
      fabricAddress: nthAddress(ranges.fabric, 1),
      secondAddress: nthAddress(ranges.second!, 1),
      ...(ranges.fabric6 && ranges.second6 ? { fabricAddress6: nthAddress(ranges.fabric6, 1), secondAddress6: nthAddress(ranges.second6, 1) } : {}),
      secondNetns: `${LAB_PREFIX}segment2`,
      secondBridge: 'br1',
      asNumber: 64513,
    };
  }
  return plan;
}

/** A leaf–spine lab: the fabric's hosts, each with its loopback addresses (no address on an uplink). */
function planFabricLab(options: LabOptions, fabricOptions: FabricOptions, machine: readonly UsedNetwork[]): LabPlan {
  if (options.router || options.kubernetes) throw new MargayError('MARGAY_ERR_USAGE', '--fabric builds its own routers: it does not combine with --router or --kubernetes');
  const ranges = chooseLabRanges(machine, { router: false, ipv6: options.ipv6 });
  const fabric = planFabric(fabricOptions, ranges);
  const hosts: LabHost[] = fabric.hosts.map((h) => ({
    name: h.name,
    netns: `${LAB_PREFIX}${h.name}`,
    address: h.loopback,
    ...(h.loopback6 ? { address6: h.loopback6 } : {}),
    segment: 'fabric',
    uplink: h.uplinks[0]!,
  }));
  return { options: { ...options, hosts: hosts.length }, ranges, fabricNetns: `${LAB_PREFIX}fabric`, fabricBridge: 'br0', hosts, asNumber: 64512, fabric };
}

/** The namespace of a lab pod (`mgl-pod-<ns>-<name>`), kept within the 255-character limit. */
export function podNetns(namespace: string, name: string): string {
  return `${LAB_PREFIX}pod-${namespace}-${name}`.slice(0, 200);
}
