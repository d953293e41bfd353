/**
 * The lab's pods in the machine's cgroup trees: every host's kubelet puts its pods under its own
 * cgroup root (`/margay-lab/<host>`, `--cgroup-root`), created here in every mounted hierarchy
 * (kubelet requires it to exist). That is how the lab finds a host's containers again — to kill
 * them when the host fails, and at `lab down`, also after a crash — and removes the cgroups after.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { pollUntil } from '../poll.ts';

/** The mounted cgroup hierarchies (v1 controllers, the v2 unified tree). */
export function cgroupMounts(): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((line) => line.split(' '))
    .filter((f) => {
      const type = f[f.indexOf('-') + 1];
      return type === 'cgroup' || type === 'cgroup2';
    })
    .map((f) => f[4]!);
}

/** Creates `path` (`/margay-lab/host-1`) in every hierarchy. */
export function createCgroup(path: string): void {
  for (const mount of cgroupMounts()) mkdirSync(join(mount, path), { recursive: true });
}

/** Every folder at or below `dir`, deepest first. */
function foldersBelow(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    if (entry.isDirectory()) out.push(...foldersBelow(join(dir, entry.name)));
  }
  out.push(dir);
  return out;
}

/** PIDs of every process in the cgroup `path` or below it, in any hierarchy. */
export function pidsInCgroup(path: string): number[] {
  const pids = new Set<number>();
  for (const mount of cgroupMounts()) {
    for (const folder of foldersBelow(join(mount, path))) {
      try {
        for (const line of readFileSync(join(folder, 'cgroup.procs'), 'utf8').split('\n')) if (line) pids.add(Number(line));
      } catch {
        // Removed meanwhile.
      }
    }
  }
  return [...pids];
}

/** SIGKILLs every process of the cgroup and waits (up to `timeoutMs`) until it is empty; returns how many. */
export async function killCgroup(path: string, timeoutMs = 10_000): Promise<number> {
  const pids = pidsInCgroup(path);
  for (const pid of pids) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
  await pollUntil(() => (pidsInCgroup(path).length === 0 ? true : undefined), { deadline: Date.now() + timeoutMs, intervalMs: 50 });
  return pids.length;
}

/** Removes the cgroup `path` and everything below it in every hierarchy (they must be empty). */
export function removeCgroup(path: string): void {
  for (const mount of cgroupMounts()) {
    for (const folder of foldersBelow(join(mount, path))) {
      try {
        rmdirSync(folder);
      } catch {
        // Busy or gone: `lab down` reports what is left through the next run.
      }
    }
  }
}
