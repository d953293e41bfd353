/**
 * Where the lab's Kubernetes parts live: the binaries (built by scripts/build-kubernetes.sh), the
 * images' names, and the files of the control plane and of every host inside the lab folder.
 * One place, so `lab up`, `lab down`, `lab status` and the tests agree on every path.
 */
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { MargayError } from '../../errors/mod.ts';
import { packageRoot } from '../entry.ts';

/** The Kubernetes release the lab runs (the one Debian 12's source package holds). */
export const KUBE_VERSION = 'v1.20.2';

/** The folder of kube-apiserver, kube-controller-manager, kube-scheduler and kubelet; MARGAY_KUBE_BIN overrides it. */
export function kubeBinDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MARGAY_KUBE_BIN ?? `/var/cache/margay/kubernetes/${KUBE_VERSION}/bin`;
}

/** The path of one Kubernetes binary, or an error naming the install step. */
export function kubeBinary(name: 'kube-apiserver' | 'kube-controller-manager' | 'kube-scheduler' | 'kubelet'): string {
  const path = join(kubeBinDir(), name);
  if (!existsSync(path)) {
    throw new MargayError('MARGAY_ERR_CONFIG', `${path} is missing: run scripts/install-deps.sh (it builds Kubernetes ${KUBE_VERSION} with scripts/build-kubernetes.sh)`);
  }
  return path;
}

/** A program of ours built by scripts/install-deps.sh (the pause and serve binaries, the forwarder). */
export function builtFile(relative: string): string {
  const path = join(packageRoot(), 'dist', relative);
  if (!existsSync(path)) throw new MargayError('MARGAY_ERR_CONFIG', `${path} is missing: run scripts/install-deps.sh`);
  return path;
}

/** The images the lab builds and imports on every host (no registry is reachable). */
export const IMAGES = {
  pause: 'localhost/margay-lab/pause:1',
  busybox: 'localhost/margay-lab/busybox:1',
} as const;

/** The control plane's files (certificates, keys, tokens, kubeconfigs, logs). */
export function kubeDir(labDir: string): string {
  return join(labDir, 'kubernetes');
}

/** The operator's kubeconfig (through the forwarder on 127.0.0.1). */
export function operatorKubeconfig(labDir: string): string {
  return join(kubeDir(labDir), 'admin.kubeconfig');
}

/** Files of one host's Kubernetes node: containerd, kubelet, CNI configuration, logs. */
export interface HostPaths {
  root: string;
  containerdConfig: string;
  containerdRoot: string;
  containerdState: string;
  containerdSocket: string;
  cniConfDir: string;
  kubeletRoot: string;
  kubeletKubeconfig: string;
  /** kubelet's `--resolv-conf` (no DNS servers). */
  resolvConf: string;
  /** The kubeconfig Margay's CNI plugin hands the agent (`kubernetes.kubeconfig`). */
  cniKubeconfig: string;
  /** Bound over /var/log inside the host's mount namespace (kubelet writes /var/log/pods). */
  varLog: string;
  /** The values kubelet reads from /proc/sys inside the host (files bound over them). */
  sysctlDir: string;
  /** The file that keeps the host's mount namespace (`unshare --mount=FILE`). */
  mountNs: string;
  containerdLog: string;
  kubeletLog: string;
}

/** The folder that holds the hosts' persistent mount namespaces (a private bind mount). */
export function mountNsDir(labDir: string): string {
  return join(labDir, 'mntns');
}

/** Every path of one host. */
export function hostPaths(labDir: string, host: string): HostPaths {
  const root = join(labDir, 'hosts', host);
  const containerd = join(root, 'containerd');
  return {
    root,
    containerdConfig: join(containerd, 'config.toml'),
    containerdRoot: join(containerd, 'root'),
    containerdState: join(containerd, 'state'),
    containerdSocket: join(containerd, 'containerd.sock'),
    cniConfDir: join(root, 'cni', 'net.d'),
    kubeletRoot: join(root, 'kubelet'),
    kubeletKubeconfig: join(root, 'kubelet.kubeconfig'),
    cniKubeconfig: join(root, 'cni.kubeconfig'),
    resolvConf: join(root, 'resolv.conf'),
    varLog: join(root, 'var-log'),
    sysctlDir: join(root, 'sysctl'),
    mountNs: join(mountNsDir(labDir), host),
    containerdLog: join(root, 'containerd.log'),
    kubeletLog: join(root, 'kubelet.log'),
  };
}

/** The lab's CNI binary folder (containerd takes one): margay, margay-ipam and the stock loopback. */
export function cniBinDir(labDir: string): string {
  return join(labDir, 'cni-bin');
}

/** Every host's pods go under this cgroup (`--cgroup-root`), so the lab can find and remove them. */
export function cgroupRootOf(host: string): string {
  return `/margay-lab/${host}`;
}
