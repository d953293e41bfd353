/**
 * One lab host as a Kubernetes node: its own containerd (root, state, socket in the host's folder;
 * Debian's containerd 1.6 speaks the CRI v1alpha2 kubelet 1.20 needs) and a real kubelet, both in
 * the host's network and mount namespaces (host-mounts.ts), with Margay's CNI plugin as the only
 * network in containerd's CNI configuration. The plugin talks to the host's Margay agent over its
 * socket and hands it the kubeconfig with which the agent reads the pod from the API server.
 *
 * Two traps (see docs/lab.md): both start with nsenter, never `ip netns exec` (which remounts /sys
 * and hides the cgroup mounts from kubelet and runc); and containerd's CRI runs with
 * `restrict_oom_score_adj = true` (machines that forbid lowering oom_score_adj fail every sandbox
 * otherwise).
 */
import { mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../../os/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import { packageRoot } from '../entry.ts';
import { LAB_NETWORK, type LabHost } from '../plan.ts';
import { type ProcessRecord, isRunning, startProcess } from '../processes.ts';
import { pollUntil } from '../poll.ts';
import { cgroupRootOf, cniBinDir, type HostPaths, IMAGES, kubeBinary } from './paths.ts';

/** The CNI binary folder containerd reads: our two plugins and the stock loopback it always runs. */
export function writeCniBinDir(labDir: string): string {
  const dir = cniBinDir(labDir);
  mkdirSync(dir, { recursive: true });
  const links: Record<string, string> = {
    margay: join(packageRoot(), 'dist', 'cni', 'margay'),
    'margay-ipam': join(packageRoot(), 'dist', 'cni', 'margay-ipam'),
    loopback: '/usr/lib/cni/loopback',
  };
  for (const [name, target] of Object.entries(links)) symlinkSync(target, join(dir, name));
  return dir;
}

/** The host's CNI network: Margay, with the kubeconfig the agent reads pods with (Calico's key). */
export function cniConflist(options: { agentSocket: string; kubeconfig: string; ipv6: boolean }): string {
  return JSON.stringify({
    cniVersion: '1.0.0',
    name: LAB_NETWORK,
    plugins: [{
      type: 'margay',
      agent_socket: options.agentSocket,
      ipam: { type: 'margay-ipam', assign_ipv4: 'true', assign_ipv6: String(options.ipv6) },
      kubernetes: { kubeconfig: options.kubeconfig },
    }],
  }, null, 2);
}

/** containerd's configuration (version 2) for one host. */
export function containerdConfig(paths: HostPaths, cniBin: string): string {
  const q = JSON.stringify;
  return `version = 2
root = ${q(paths.containerdRoot)}
state = ${q(paths.containerdState)}
temp = ${q(join(paths.root, 'containerd', 'tmp'))}
# Only what the CRI needs: no other snapshotters, no tracing, no /opt plugin folder.
disabled_plugins = ["io.containerd.internal.v1.opt", "io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.zfs", "io.containerd.tracing.processor.v1.otlp", "io.containerd.internal.v1.tracing"]

[grpc]
  address = ${q(paths.containerdSocket)}

[ttrpc]
  address = ${q(`${paths.containerdSocket}.ttrpc`)}

[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = ${q(IMAGES.pause)}
  # This machine may forbid lowering oom_score_adj: without this every sandbox fails to start.
  restrict_oom_score_adj = true
  # No AppArmor profile is loaded into the machine's kernel for the lab.
  disable_apparmor = true
  # Pod network namespaces under the state folder, inside the host's mount namespace.
  netns_mounts_under_state_dir = true
  stream_server_address = "127.0.0.1"
  stream_server_port = "0"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = ${q(cniBin)}
    conf_dir = ${q(paths.cniConfDir)}
    max_conf_num = 1
`;
}

/** Writes the host's containerd configuration and CNI network. */
export function writeNodeConfig(options: { paths: HostPaths; cniBin: string; agentSocket: string; ipv6: boolean }): void {
  const { paths } = options;
  for (const d of [paths.containerdRoot, paths.containerdState, join(paths.root, 'containerd', 'tmp'), paths.cniConfDir, paths.kubeletRoot]) mkdirSync(d, { recursive: true });
  writeFileSync(paths.containerdConfig, containerdConfig(paths, options.cniBin));
  writeFileSync(paths.resolvConf, '# margay lab: no DNS (the lab network reaches nothing outside)\n');
  writeFileSync(join(paths.cniConfDir, '10-margay.conflist'), cniConflist({ agentSocket: options.agentSocket, kubeconfig: paths.cniKubeconfig, ipv6: options.ipv6 }));
}

/** Starts the host's containerd and waits until it answers. */
export async function startContainerd(host: LabHost, paths: HostPaths): Promise<ProcessRecord> {
  const record = startProcess({
    role: `containerd ${host.name}`,
    cmd: 'containerd',
    args: ['--config', paths.containerdConfig, '--log-level', 'warn'],
    netns: host.netns,
    mountNs: paths.mountNs,
    logFile: paths.containerdLog,
  });
  const up = await pollUntil(async () => {
    if (!isRunning(record)) throw new MargayError('MARGAY_ERR_NOT_READY', `containerd of ${host.name} exited at start; see ${paths.containerdLog}`);
    const res = await exec('ctr', ['-a', paths.containerdSocket, 'version'], { allowFail: true, timeoutMs: 5000 }).catch(() => undefined);
    return res?.code === 0 ? true : undefined;
  }, { deadline: Date.now() + 30_000, intervalMs: 100 });
  if (!up) throw new MargayError('MARGAY_ERR_NOT_READY', `containerd of ${host.name} did not answer; see ${paths.containerdLog}`);
  return record;
}

/**
 * kubelet's flags: remote runtime on the host's containerd, the node's fabric address, pods in the
 * host's cgroup root, no eviction or image garbage collection (the lab's images cannot be pulled
 * again), a modest API rate, and nothing written outside the lab folder.
 */
export function kubeletArgs(host: LabHost, paths: HostPaths): string[] {
  return [
    `--kubeconfig=${paths.kubeletKubeconfig}`,
    `--root-dir=${paths.kubeletRoot}`,
    `--cert-dir=${join(paths.kubeletRoot, 'pki')}`,
    `--volume-plugin-dir=${join(paths.kubeletRoot, 'volume-plugins')}`,
    '--container-runtime=remote',
    `--container-runtime-endpoint=unix://${paths.containerdSocket}`,
    `--pod-infra-container-image=${IMAGES.pause}`,
    // The lab's network is closed: pods get no DNS servers (nor the machine's).
    `--resolv-conf=${paths.resolvConf}`,
    `--hostname-override=${host.name}`,
    `--node-ip=${host.address.split('/')[0]}`,
    '--cgroup-driver=cgroupfs',
    // Per-QoS cgroups under the host's own root: that is what puts the pods below it.
    '--cgroups-per-qos=true',
    '--enforce-node-allocatable=',
    `--cgroup-root=${cgroupRootOf(host.name)}`,
    '--fail-swap-on=false',
    '--oom-score-adj=0',
    '--make-iptables-util-chains=false',
    '--eviction-hard=',
    '--image-gc-high-threshold=100',
    '--image-gc-low-threshold=99',
    '--kube-api-qps=10',
    '--kube-api-burst=20',
    '--serialize-image-pulls=false',
    // A pod whose sync failed (e.g. kubelet 1.20's kill race with containerd) is retried every 10 s, not every minute.
    '--sync-frequency=10s',
    '--read-only-port=0',
    '--healthz-port=10248',
    '--v=1',
  ];
}

/** Waits until the kubelet answers its health check (127.0.0.1:10248 inside the host). */
export async function waitKubeletHealthy(host: LabHost, record: ProcessRecord, timeoutMs: number): Promise<void> {
  const healthy = await pollUntil(async () => {
    if (!isRunning(record)) throw new MargayError('MARGAY_ERR_NOT_READY', `kubelet of ${host.name} exited; see ${record.logFile}`);
    const res = await exec('curl', ['-sf', '-m', '1', 'http://127.0.0.1:10248/healthz'], { netns: host.netns, allowFail: true });
    return res.code === 0 ? true : undefined;
  }, { deadline: Date.now() + timeoutMs, intervalMs: 250 });
  if (!healthy) throw new MargayError('MARGAY_ERR_NOT_READY', `kubelet of ${host.name} is not healthy after ${timeoutMs / 1000} s; see ${record.logFile}`);
}

/** Starts the host's kubelet. */
export function startKubelet(host: LabHost, paths: HostPaths): ProcessRecord {
  return startProcess({
    role: `kubelet ${host.name}`,
    cmd: kubeBinary('kubelet'),
    args: kubeletArgs(host, paths),
    netns: host.netns,
    mountNs: paths.mountNs,
    logFile: paths.kubeletLog,
  });
}
