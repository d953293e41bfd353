/**
 * Background processes of the lab (etcd, agents, routers): started detached with their output
 * in a log file, recorded with PID and kernel start time, and stopped by PID only after checking
 * the start time, so a recycled PID is never signalled.
 */
import { spawn } from 'node:child_process';
import { closeSync, openSync, readFileSync } from 'node:fs';
import { MargayError } from '../errors/mod.ts';
import { pollUntil } from './poll.ts';

/** A process the lab started. */
export interface ProcessRecord {
  /** What it is (`etcd`, `agent host-1`). */
  role: string;
  pid: number;
  /** Field 22 of /proc/<pid>/stat: distinguishes this process from a later one with the same PID. */
  startTime: string;
  logFile: string;
}

/** Reads a process's kernel start time; undefined when it no longer exists. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces; fields after the closing parenthesis are plain.
    const afterName = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const state = afterName[0];
    if (state === 'Z' || state === 'X') return undefined;
    return afterName[19];
  } catch {
    return undefined;
  }
}

/** True while the recorded process is still the one the lab started. */
export function isRunning(record: ProcessRecord): boolean {
  return processStartTime(record.pid) === record.startTime;
}

/** Options of startProcess. */
export interface StartOptions {
  role: string;
  cmd: string;
  args: string[];
  /** Run inside this network namespace (`ip netns exec` replaces itself with the command). */
  netns?: string;
  /**
   * Run inside this persistent mount namespace (a lab host's, see kubernetes/host-mounts.ts), with
   * `nsenter`, which keeps /sys as it is: kubelet and runc need the machine's cgroup mounts, which
   * `ip netns exec` hides by remounting /sys.
   */
  mountNs?: string;
  logFile: string;
  env?: NodeJS.ProcessEnv;
  cwd?: string;
}

/** The program and arguments that start `options.cmd` where it must run. */
function launcher(options: StartOptions): [string, string[]] {
  if (options.mountNs) {
    const net = options.netns ? [`--net=/var/run/netns/${options.netns}`] : [];
    // Entering a mount namespace moves to its root folder: --wd keeps the working folder.
    const wd = options.cwd ? [`--wd=${options.cwd}`] : [];
    return ['nsenter', [`--mount=${options.mountNs}`, ...net, ...wd, '--', options.cmd, ...options.args]];
  }
  if (options.netns) return ['ip', ['netns', 'exec', options.netns, options.cmd, ...options.args]];
  return [options.cmd, options.args];
}

/** Starts a detached background process and records it. */
export function startProcess(options: StartOptions): ProcessRecord {
  const fd = openSync(options.logFile, 'a');
  try {
    const [cmd, args] = launcher(options);
    const child = spawn(cmd, args, {
      detached: true,
      stdio: ['ignore', fd, fd],
      env: options.env ?? process.env,
      cwd: options.cwd,
    });
    child.unref();
    if (child.pid === undefined) throw new MargayError('MARGAY_ERR_COMMAND_FAILED', `could not start ${options.cmd}`);
    const startTime = processStartTime(child.pid) ?? '';
    return { role: options.role, pid: child.pid, startTime, logFile: options.logFile };
  } finally {
    closeSync(fd);
  }
}

/** Stops a recorded process: SIGTERM, then SIGKILL after `graceMs`. Safe if it is already gone. */
export async function stopProcess(record: ProcessRecord, graceMs = 5000): Promise<void> {
  if (!isRunning(record)) return;
  try {
    process.kill(record.pid, 'SIGTERM');
  } catch {
    return;
  }
  await pollUntil(() => (isRunning(record) ? undefined : true), { deadline: Date.now() + graceMs, intervalMs: 50 });
  if (isRunning(record)) {
    try {
      process.kill(record.pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}
