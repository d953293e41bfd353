/**
 * Cluster controllers (`margay controllers`): leader election on an etcd lease and IPAM garbage
 * collection. The GC's decisions (decide.ts) are pure; collector.ts reads and acts.
 */
export { startControllers, type ControllersOptions, type RunningControllers } from './run.ts';
export { acquireLeadership, campaign, pause, type Leadership, type LeaderElectionOptions } from './leader.ts';
export { IpamGarbageCollector, type IpamGcOptions, type GcPassReport, type PodOracle } from './ipam-gc/collector.ts';
export { planGc, emptyGcState, type GcInput, type GcPlan, type GcSettings, type GcState, type PlannedRelease } from './ipam-gc/decide.ts';
export { executeGc, type GcExecutorDeps, type GcOutcome } from './ipam-gc/execute.ts';
export { loadControllerSettings, gcIntervalMs, DEFAULT_LEAK_GRACE_MS, type ControllerSettings } from './settings.ts';
