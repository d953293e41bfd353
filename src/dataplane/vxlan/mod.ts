/** VXLAN for pools with vxlanMode Always/CrossSubnet: the manager (the plan in force) over the driver (the kernel). */
export { MARGAY_VXLAN_ROUTE_PROTOCOL, VXLAN_OVERHEAD, VxlanDriver } from './driver.ts';
export type { VxlanApplyOutcome, VxlanDriverOptions } from './driver.ts';
export { VxlanManager } from './manager.ts';
export type { VxlanManagerOptions } from './manager.ts';
