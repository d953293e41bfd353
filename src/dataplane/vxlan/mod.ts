/** VXLAN for pools with vxlanMode Always/CrossSubnet: planner (pure), driver, tunnel addresses. */
export {
  MARGAY_VXLAN_ROUTE_PROTOCOL,
  planVxlan,
  VXLAN_DEVICE_V4,
  VXLAN_DEVICE_V6,
  VXLAN_OVERHEAD,
  VXLAN_PORT,
  VXLAN_VNI,
} from './plan.ts';
export type { VtepPlan, VxlanBlock, VxlanDevicePlan, VxlanPlan, VxlanPlanInput, VxlanRoutePlan } from './plan.ts';
export { VxlanDriver } from './driver.ts';
export type { VxlanApplyOutcome, VxlanDriverOptions } from './driver.ts';
export { ensureVxlanTunnelAddress, vxlanMacFor, vxlanTunnelHandle } from './tunnel-address.ts';
export type { TunnelAddressChange } from './tunnel-address.ts';
