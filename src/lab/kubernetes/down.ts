/**
 * What `lab down` does for the Kubernetes parts, also after a crash (nothing here needs the lab
 * state): kill every container of every host (they run in their pods' namespaces, out of reach of
 * the lab's namespace sweep, but below the `/margay-lab` cgroup), then, once every lab process is
 * gone, unmount the hosts' mount namespaces (which frees all they hold: image layers, pod
 * namespaces, volumes) and remove the cgroups.
 */
import { killCgroup, removeCgroup } from './cgroups.ts';
import { unmountBelow } from './host-mounts.ts';
import { mountNsDir } from './paths.ts';

/** The cgroup every host's root sits below. */
const LAB_CGROUP = '/margay-lab';

/** SIGKILLs every container of the lab's kubelets; returns how many processes there were. */
export async function killLabContainers(): Promise<number> {
  return killCgroup(LAB_CGROUP);
}

/** Unmounts the hosts' mount namespaces and removes the lab's cgroups. */
export async function releaseKubernetes(labDir: string): Promise<void> {
  await unmountBelow(mountNsDir(labDir));
  removeCgroup(LAB_CGROUP);
}
