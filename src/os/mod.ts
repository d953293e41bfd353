/**
 * The ground floor's operating-system helpers: running programs without a shell (`exec`), resident
 * shells and line-oriented programs inside a network namespace (so a call costs a line, not a
 * process), the resident netlink helper, and the clock. Every floor above uses these rather than
 * `node:child_process` or `Date`/timers directly, so tests can inject a runner or a manual clock.
 */
export { exec, createRunner, ExecError } from './exec.ts';
export type { CommandRunner, RunOptions, RunResult, ExecOptions, RunnerOptions } from './exec.ts';
export { ShellPool, shq, heredoc, sysctlScript, checkSysctlPath } from './shell.ts';
export type { ScriptResult, ShellPoolOptions } from './shell.ts';
export { ResidentProcess, JobSlot, holdOpen, sentinelToken } from './resident.ts';
export type { ResidentJob, ResidentOptions } from './resident.ts';
export { NetlinkHelper, NETLINK_HELPER, findNetlinkHelper } from './netlink-helper.ts';
export type { NetlinkHelperOptions } from './netlink-helper.ts';
export { ManualClock, systemClock, sleep, timerDelay, MAX_TIMER_MS } from './clock.ts';
export type { Clock, TimerHandle } from './clock.ts';
export { processAlive } from './process.ts';
export { findPackageFile } from './package-file.ts';
export { loadMallocControl, MALLOC_ADDON, MALLOC_THRESHOLD_BYTES } from './malloc-control.ts';
export type { MallocControl } from './malloc-control.ts';
