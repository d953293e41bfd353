/** The lab folder's public surface: what other folders of src/ may import. */

// Re-exported for the other folders of src/ (they enter this folder only through this file).
export { connectivity, connectivityAll, labFamilies, renderConnectivity } from './connectivity.ts';
export { frrAt, frrSessions } from './frr.ts';
export { failHost, recoverHost, restartAgent, restartKubelet } from './hosts.ts';
export { kubectlFlags, labKubeconfig } from './kubernetes/kubectl.ts';
export { settleKubePods } from './kubernetes/lab-pods.ts';
export { controlPlaneRows, nodeRows } from './kubernetes/status.ts';
export { labDown, labUp, parsePodRef, podAdd, podRemove, probe, refreshPods, requireLab, targetAddress, targetNetns, withStore } from './lab.ts';
export type { LabContext } from './lab.ts';
export type { LabOptions } from './plan.ts';
export { isRunning } from './processes.ts';
export { describeMissing } from './routes.ts';
export { parsePortSpec, parseServeList } from './serve.ts';
export { labDir, readState, writeState } from './state.ts';
export { failRouter, recoverRouter, setLink } from './fabric/failures.ts';
export { fabricRows } from './fabric/status.ts';
export type { LabState } from './state.ts';
export { findVm, vmAdd, vmDelete, vmExec } from './vm/vms.ts';
export type { VmAddOptions, VmTimings } from './vm/vms.ts';
export { attachConsole } from './vm/console.ts';
export type { LabVm } from './state.ts';
export { LAB_CLOUD, openstackEnv } from './openstack/up.ts';
export { NeutronApi, NeutronApiError } from './openstack/neutron-api.ts';
export { vmConnectivity } from './vm/connectivity.ts';
