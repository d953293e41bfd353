/**
 * A Kubernetes lab host is a network namespace and a mount namespace of its own, as a machine is.
 * Everything that runs "on" the host (agent, BIRD, containerd, kubelet) joins both with nsenter.
 * Inside, the host has its own /run and /var/lib (empty tmpfs, as after a boot), its /var/log from
 * the lab folder, and the lab folder itself where it is (shared storage, as every host must reach
 * etcd's socket and its own files there). So:
 *
 * - paths containerd, kubelet and libcni fix in their code (/run/containerd for shim sockets and
 *   runc state, /var/lib/kubelet/device-plugins, /var/lib/cni for cached results, /var/log/pods)
 *   land inside the host, never on the machine;
 * - containerd's mounts (image layers, pod network namespaces, shm) and kubelet's (its root dir,
 *   secret volumes) stay in the host's namespace, and go with it;
 * - kubelet reads the kernel settings it insists on (`vm.overcommit_memory=1`, `kernel.panic=10`…,
 *   which it would otherwise write machine-wide) from files bound over /proc/sys, so it finds them
 *   as it wants them and changes nothing on the machine.
 *
 * The namespace is persistent (`unshare --mount=FILE`, the mount-namespace twin of `ip netns add`):
 * a host whose processes were all killed (`lab host fail`) keeps its mounts and starts again in
 * the same namespace. The files live in `<lab>/mntns`, a private bind mount (the kernel refuses a
 * namespace file on a shared mount, which /run is on systemd machines). `lab down` unmounts them.
 */
import { existsSync, mkdirSync, readFileSync, realpathSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../../os/mod.ts';
import { mountNsDir } from './paths.ts';

/** What kubelet 1.20 writes at start unless it already reads these values (container_manager_linux.go). */
export const KUBELET_SYSCTLS: Record<string, string> = {
  'vm/overcommit_memory': '1',
  'vm/panic_on_oom': '0',
  'kernel/panic': '10',
  'kernel/panic_on_oops': '1',
  'kernel/keys/root_maxkeys': '1000000',
  'kernel/keys/root_maxbytes': '25000000',
};

/** Mount points of the machine's mount namespace, from /proc/self/mountinfo (octal escapes decoded). */
export function mountPoints(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((line) => line.split(' ')[4]!.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
}

/** True when `path` is a mount point (compared by real path: /var/run is a link to /run). */
function isMountPoint(path: string): boolean {
  return existsSync(path) && mountPoints().includes(realpathSync(path));
}

/** Makes `<lab>/mntns` a private bind mount of itself (once), as `ip netns` does for /run/netns. */
async function ensurePrivateFolder(dir: string): Promise<void> {
  mkdirSync(dir, { recursive: true });
  if (!isMountPoint(dir)) await exec('mount', ['--bind', dir, dir]);
  await exec('mount', ['--make-private', dir]);
}

/** Options of {@link createHostMountNs}. */
export interface HostMountOptions {
  labDir: string;
  /** The namespace file (`<lab>/mntns/<host>`). */
  file: string;
  /** Bound over /var/log inside the namespace. */
  varLog: string;
  /** Where the files bound over /proc/sys are written. */
  sysctlDir: string;
}

/**
 * The host's file system, set up inside its new namespace: the lab folder is held open (fd 3)
 * before /run is covered, then bound back at its path (`--no-canonicalize`, so the kernel follows
 * the descriptor rather than the now-covered name).
 */
const SETUP = `set -e
lab=$1 varlog=$2 sysctls=$3
exec 3<"$lab"
mount -t tmpfs -o mode=0755 margay-host-run /run
mount -t tmpfs -o mode=0755 margay-host-var-lib /var/lib
mkdir -p "$lab"
mount --no-canonicalize --bind /proc/self/fd/3 "$lab"
exec 3<&-
mount --bind "$varlog" /var/log
for f in "$sysctls"/*; do mount --bind "$f" "/proc/sys/$(basename "$f" | tr . /)"; done
`;

/** Creates the host's persistent mount namespace with its file system; a no-op when it exists. */
export async function createHostMountNs(options: HostMountOptions): Promise<void> {
  if (isMountPoint(options.file)) return;
  await ensurePrivateFolder(mountNsDir(options.labDir));
  writeFileSync(options.file, '');
  // --propagation private: nothing mounted inside ever shows up in the machine's namespace.
  await exec('unshare', [`--mount=${options.file}`, '--propagation', 'private', 'true']);
  mkdirSync(options.varLog, { recursive: true });
  mkdirSync(options.sysctlDir, { recursive: true });
  for (const [key, value] of Object.entries(KUBELET_SYSCTLS)) writeFileSync(join(options.sysctlDir, key.replaceAll('/', '.')), `${value}\n`);
  await exec('nsenter', [`--mount=${options.file}`, '--', 'sh', '-c', SETUP, 'sh', realpathSync(options.labDir), options.varLog, options.sysctlDir]);
}

/**
 * Unmounts every mount at or below `dir` in the machine's namespace, deepest first (the hosts'
 * namespace files, then the private folder). A namespace whose last process is gone is freed with
 * all its mounts when its file is unmounted.
 */
export async function unmountBelow(path: string): Promise<number> {
  if (!existsSync(path)) return 0;
  const dir = realpathSync(path);
  const below = mountPoints().filter((m) => m === dir || m.startsWith(`${dir}/`)).sort((a, b) => b.length - a.length);
  for (const m of below) {
    const res = await exec('umount', [m], { allowFail: true });
    if (res.code !== 0 && existsSync(m)) await exec('umount', ['-l', m], { allowFail: true });
  }
  return below.length;
}
