/**
 * The lab's address plan (docs/design.md §7), computed from the options alone: namespace names,
 * fabric addresses, router segment. Pure, so `lab up`, `lab down` and `lab status` agree on names
 * without asking the kernel.
 */
import { MargayError } from '../errors/mod.ts';
import { formatIp, nthIp, parseCidr } from '../ipam/net.ts';

/** Every namespace the lab makes starts with this, so clean-up can find all of it. */
export const LAB_PREFIX = 'mgl-';

/** The CNI network the lab's pods join. */
export const LAB_NETWORK = 'k8s-pod-network';

/** Options of a lab. */
export interface LabOptions {
  hosts: number;
  /** Add an FRR router namespace with a second segment (198.51.100.0/24) behind it. */
  router: boolean;
  ipv6: boolean;
  /** etcd members (default 1); an odd number up to 7, e.g. 3 to show a member failing. */
  etcdMembers?: number;
  /** Run a real Kubernetes control plane and a kubelet + containerd on every host (src/lab/kubernetes). */
  kubernetes?: boolean;
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
  /** Its address on the fabric or the second segment, with prefix (`192.0.2.11/24`). */
  address: string;
  /** Its default gateway on the fabric, when the router exists. */
  gateway?: string;
  /** Its IPv6 fabric address (`2001:db8::11/64`), with --ipv6. */
  address6?: string;
  /** Which segment it sits on. */
  segment: 'fabric' | 'second';
  /** Name of its uplink inside its namespace. */
  uplink: string;
}

/** The whole plan. */
export interface LabPlan {
  options: LabOptions;
  fabricNetns: string;
  fabricBridge: string;
  fabricCidr: string;
  hosts: LabHost[];
  router?: { netns: string; fabricAddress: string; secondAddress: string; secondNetns: string; secondBridge: string; asNumber: number };
  /** The workload pools. */
  pools: { v4: string; v6: string };
  /** The cluster AS number. */
  asNumber: number;
  /** With --kubernetes. */
  kubernetes?: KubernetesPlan;
}

/** Maximum hosts: the fabric addresses 192.0.2.11 … 192.0.2.250. */
export const MAX_HOSTS = 240;

/** Builds the plan. With a router, the last host sits on the second segment behind it. */
export function planLab(options: LabOptions): LabPlan {
  if (!Number.isInteger(options.hosts) || options.hosts < 1 || options.hosts > MAX_HOSTS) {
    throw new MargayError('MARGAY_ERR_USAGE', `--hosts must be a whole number from 1 to ${MAX_HOSTS}`);
  }
  const members = options.etcdMembers ?? 1;
  if (![1, 3, 5, 7].includes(members)) throw new MargayError('MARGAY_ERR_USAGE', '--etcd-members must be 1, 3, 5 or 7 (an odd number keeps a majority when one fails)');
  const hosts: LabHost[] = [];
  for (let i = 1; i <= options.hosts; i++) {
    const behindRouter = options.router && options.hosts > 1 && i === options.hosts;
    hosts.push({
      name: `host-${i}`,
      netns: `${LAB_PREFIX}host-${i}`,
      address: behindRouter ? `198.51.100.${10 + i}/24` : `192.0.2.${10 + i}/24`,
      ...(options.router ? { gateway: behindRouter ? '198.51.100.1' : '192.0.2.1' } : {}),
      ...(options.ipv6 && !behindRouter ? { address6: `2001:db8::${(10 + i).toString(16)}/64` } : {}),
      segment: behindRouter ? 'second' : 'fabric',
      uplink: 'eth0',
    });
  }
  const plan: LabPlan = {
    options,
    fabricNetns: `${LAB_PREFIX}fabric`,
    fabricBridge: 'br0',
    fabricCidr: '192.0.2.0/24',
    hosts,
    pools: { v4: '10.244.0.0/16', v6: 'fd00:10:244::/48' },
    asNumber: 64512,
  };
  if (options.kubernetes) plan.kubernetes = kubernetesPlan(plan.fabricCidr);
  if (options.router) {
    plan.router = {
      netns: `${LAB_PREFIX}router`,
      fabricAddress: '192.0.2.1/24',
      secondAddress: '198.51.100.1/24',
      secondNetns: `${LAB_PREFIX}segment2`,
      secondBridge: 'br1',
      asNumber: 64513,
    };
  }
  return plan;
}

/** The control plane sits at the fabric's second address (the router, when there is one, has the first). */
function kubernetesPlan(fabricCidr: string): KubernetesPlan {
  const fabric = parseCidr(fabricCidr)!;
  return { netns: `${LAB_PREFIX}control`, address: `${formatIp(nthIp(fabric, 2))}/${fabric.prefix}`, apiPort: 6443, serviceCidr: '10.96.0.0/16' };
}

/** The namespace of a lab pod (`mgl-pod-<ns>-<name>`), kept within the 255-character limit. */
export function podNetns(namespace: string, name: string): string {
  return `${LAB_PREFIX}pod-${namespace}-${name}`.slice(0, 200);
}
