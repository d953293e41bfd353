/**
 * Who an attachment belongs to, derived the way Calico's CNI plugin derives it: a Kubernetes pod
 * when CNI_ARGS carries both K8S_POD_NAMESPACE and K8S_POD_NAME (orchestrator `k8s`), otherwise a
 * plain container (orchestrator `cni`, workload = container ID, namespace from the configuration).
 * From that follow the WorkloadEndpoint name, the host-side veth name and the IPAM handle.
 */
import { createHash } from 'node:crypto';
import { vethNameForPod, workloadEndpointName, WorkloadEndpointNameError } from '../api/mod.ts';
import type { NetConf } from './config.ts';
import type { CniRequest } from './request.ts';
import { CniCode, CniError } from './spec.ts';
import { firstInterfacePrefix } from '../api/mod.ts';

/** The identity of one attachment (container × interface) on one node. */
export interface WorkloadIdentity {
  node: string;
  orchestrator: 'k8s' | 'cni';
  /** The WorkloadEndpoint's namespace. */
  namespace: string;
  /** The pod (k8s only). */
  pod?: string;
  /** The workload: the pod for k8s, the container ID otherwise. */
  workload: string;
  containerId: string;
  /** The endpoint: the interface name inside the container. */
  endpoint: string;
  /** The WorkloadEndpoint name (`<node>-<orchestrator>-<workload>-<endpoint>`). */
  wepName: string;
  /** The host side of the veth (`cali` + 11 hex digits). */
  hostVeth: string;
  /** The IPAM handle, `<network>.<containerID>`. */
  handle: string;
}

/** The host-side interface name of a container that is not a pod: the prefix and 11 hex digits of sha1(containerID[.ifname]). */
export function vethNameForContainer(containerId: string, ifname: string, prefix?: string): string {
  const first = firstInterfacePrefix(prefix);
  const key = ifname === 'eth0' ? containerId : `${containerId}.${ifname}`;
  return `${first}${createHash('sha1').update(key).digest('hex').slice(0, 11)}`;
}

/** The IPAM handle of an attachment (Calico: `<network>.<containerID>`). */
export function handleFor(network: string, containerId: string): string {
  return `${network}.${containerId}`;
}

/**
 * The identity of the request's attachment.
 * @throws {CniError} 7 when the parts cannot form a WorkloadEndpoint name.
 */
export function workloadIdentity(req: CniRequest, conf: NetConf, node: string, interfacePrefix?: string): WorkloadIdentity {
  const podNamespace = req.args.K8S_POD_NAMESPACE ?? '';
  const podName = req.args.K8S_POD_NAME ?? '';
  const isPod = podNamespace !== '' && podName !== '';
  try {
    if (isPod) {
      const wepName = workloadEndpointName({ node, orchestrator: 'k8s', pod: podName, endpoint: req.ifname });
      const vethKey = req.ifname === 'eth0' ? podName : `${podName}.${req.ifname}`;
      return {
        node,
        orchestrator: 'k8s',
        namespace: podNamespace,
        pod: podName,
        workload: podName,
        containerId: req.containerId,
        endpoint: req.ifname,
        wepName,
        hostVeth: vethNameForPod(podNamespace, vethKey, interfacePrefix),
        handle: handleFor(conf.name, req.containerId),
      };
    }
    const wepName = workloadEndpointName({ node, orchestrator: 'cni', containerID: req.containerId, endpoint: req.ifname });
    return {
      node,
      orchestrator: 'cni',
      namespace: conf.namespace,
      workload: req.containerId,
      containerId: req.containerId,
      endpoint: req.ifname,
      wepName,
      hostVeth: vethNameForContainer(req.containerId, req.ifname, interfacePrefix),
      handle: handleFor(conf.name, req.containerId),
    };
  } catch (err) {
    if (err instanceof WorkloadEndpointNameError) {
      throw new CniError(CniCode.INVALID_NETWORK_CONFIG, `cannot name the WorkloadEndpoint: ${err.message}`, undefined, { cause: err });
    }
    throw err;
  }
}
