/**
 * CNI with the Kubernetes API: when the network configuration names an API server Calico's way
 * (`kubernetes.kubeconfig`, or `k8s_api_root` with `policy.k8s_auth_token`) and the runtime passes
 * K8S_POD_NAMESPACE and K8S_POD_NAME, ADD reads the pod (src/kube/pod-info.ts) before anything is
 * allocated, so a pod that does not exist or an API that cannot be reached fails the ADD with a
 * clear error and leaves nothing behind. The pod decides the endpoint's labels, profiles, ports
 * and service account, and Calico's annotations its addresses and pools; once the endpoint is
 * programmed, its addresses are written back onto the pod.
 *
 * The API access of a configuration is read once per kubeconfig file version (its mtime).
 */
import { statSync } from 'node:fs';
import { hasCode, MargayError } from '../errors/mod.ts';
import { accessFromNetConf, type KubeAccess, type PodNetworkInfo } from '../kube/mod.ts';
import type { NetConf } from './config.ts';
import type { ServiceContext } from './context.ts';
import type { WorkloadIdentity } from './identity.ts';
import { CniCode, CniError } from './spec.ts';

const accessCache = new Map<string, { stamp: number; access: KubeAccess | undefined }>();

function kubeconfigStamp(raw: Record<string, unknown>): number {
  const file = (raw.kubernetes as { kubeconfig?: unknown } | undefined)?.kubeconfig;
  if (typeof file !== 'string' || file === '') return 0;
  try {
    return statSync(file).mtimeMs;
  } catch {
    return -1; // missing: read (and fail) again next time
  }
}

/**
 * The API access the configuration asks for; undefined when it names none.
 * @throws {CniError} 7 naming the key when it cannot be used.
 */
export function kubeAccessOf(conf: NetConf): KubeAccess | undefined {
  const raw = conf.raw;
  const key = JSON.stringify([raw.kubernetes ?? null, raw.policy ?? null]);
  const stamp = kubeconfigStamp(raw);
  const hit = accessCache.get(key);
  if (hit && hit.stamp === stamp && stamp !== -1) return hit.access;
  try {
    const access = accessFromNetConf(raw, `network configuration ${conf.name}`);
    accessCache.set(key, { stamp, access });
    return access;
  } catch (err) {
    if (err instanceof MargayError) throw new CniError(CniCode.INVALID_NETWORK_CONFIG, `invalid network configuration: ${err.message}`, err.code);
    throw err;
  }
}

/** What went wrong with the API, as a CNI error that says what to do. */
function apiError(err: unknown, id: WorkloadIdentity, access: KubeAccess): CniError {
  const pod = `${id.namespace}/${id.pod}`;
  if (hasCode(err, 'MARGAY_ERR_NOT_FOUND')) return new CniError(CniCode.UNKNOWN_CONTAINER, (err as Error).message, 'MARGAY_ERR_NOT_FOUND');
  if (hasCode(err, 'MARGAY_ERR_KUBE_UNAVAILABLE')) {
    return new CniError(CniCode.TRY_AGAIN_LATER, `cannot read pod ${pod}: ${(err as Error).message}`, 'MARGAY_ERR_KUBE_UNAVAILABLE');
  }
  if (hasCode(err, 'MARGAY_ERR_VALIDATION')) return new CniError(CniCode.INVALID_NETWORK_CONFIG, (err as Error).message, 'MARGAY_ERR_VALIDATION');
  if (err instanceof MargayError) return new CniError(CniCode.KUBERNETES_API, `cannot read pod ${pod} from ${access.server}: ${err.message}`, err.code);
  return new CniError(CniCode.INTERNAL, `cannot read pod ${pod}: ${(err as Error).message}`);
}

/**
 * The pod of a Kubernetes attachment, from the API; undefined when the attachment is not a pod or
 * the configuration names no API.
 * @throws {CniError} 3 (the pod does not exist), 11 (the API cannot be reached), 7 (a malformed
 *   annotation, or an annotation the configured IPAM cannot honour), 102 (the API refused).
 */
export async function readPod(ctx: ServiceContext, conf: NetConf, id: WorkloadIdentity): Promise<PodNetworkInfo | undefined> {
  if (id.orchestrator !== 'k8s' || !id.pod) return undefined;
  const access = kubeAccessOf(conf);
  if (!access) return undefined;
  let info: PodNetworkInfo;
  try {
    info = await ctx.kube.podInfo(access, id.namespace, id.pod);
  } catch (err) {
    throw apiError(err, id, access);
  }
  // Calico's rules: address annotations only with Calico's (here: the agent's) IPAM.
  if ((info.ipAddrs || info.ipAddrsNoIpam) && !conf.ipam.builtin) {
    const which = info.ipAddrs ? 'ipAddrs' : 'ipAddrsNoIpam';
    throw new CniError(CniCode.INVALID_NETWORK_CONFIG, `pod ${id.namespace}/${id.pod}: annotation cni.projectcalico.org/${which} is not compatible with IPAM ${conf.ipam.type}`);
  }
  if (info.ipAddrsNoIpam && !conf.ipAddrsNoIpam) {
    throw new CniError(CniCode.INVALID_NETWORK_CONFIG, `pod ${id.namespace}/${id.pod}: annotation cni.projectcalico.org/ipAddrsNoIpam needs feature_control.ip_addrs_no_ipam: true in the network configuration`);
  }
  return info;
}

/** The configuration as the pod's annotations amend it (requested addresses, pools). */
export function confForPod(conf: NetConf, pod: PodNetworkInfo | undefined): NetConf {
  if (!pod || (!pod.ipAddrs && !pod.ipv4Pools && !pod.ipv6Pools)) return conf;
  const ipam = { ...conf.ipam };
  if (pod.ipv4Pools) ipam.ipv4Pools = pod.ipv4Pools;
  if (pod.ipv6Pools) ipam.ipv6Pools = pod.ipv6Pools;
  return { ...conf, ipam, ...(pod.ipAddrs ? { requestedIps: pod.ipAddrs } : {}) };
}

/**
 * Writes the attachment's addresses back onto its pod (`cni.projectcalico.org/podIP`, `podIPs`,
 * `containerID`).
 * @throws {CniError} when the API refuses or cannot be reached.
 */
export async function writeBackPodIps(ctx: ServiceContext, conf: NetConf, id: WorkloadIdentity, ips: string[]): Promise<void> {
  const access = kubeAccessOf(conf);
  if (!access || !id.pod) return;
  try {
    await ctx.kube.writePodIps(access, id.namespace, id.pod, ips, id.containerId);
  } catch (err) {
    throw apiError(err, id, access);
  }
}

/** DEL: marks the pod's addresses released (best effort). */
export async function clearPodIps(ctx: ServiceContext, conf: NetConf, id: WorkloadIdentity): Promise<void> {
  if (id.orchestrator !== 'k8s' || !id.pod) return;
  let access: KubeAccess | undefined;
  try {
    access = kubeAccessOf(conf);
  } catch {
    return;
  }
  if (access) await ctx.kube.clearPodIps(access, id.namespace, id.pod, id.containerId);
}
