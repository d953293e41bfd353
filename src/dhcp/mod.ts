/**
 * The DHCP room's public surface: the per-host DHCP service for OpenStack VMs (dnsmasq driven
 * from WorkloadEndpoints and networking-calico's subnet data). See docs/dhcp.md.
 */
export { DhcpService, type DhcpServiceOptions } from './service.ts';
export { DnsmasqDriver, DHCP_GATEWAY_DEVICE, type DnsmasqDriverOptions, type DnsmasqApplyOutcome } from './dnsmasq.ts';
export { renderDhcp, DEFAULT_LEASE_SECONDS, type DhcpRendering, type RenderOptions, type EndpointOutcome } from './render.ts';
export { decodeEndpoint, decodeSubnet, regionString, subnetPrefix, OPENSTACK_ANNOTATION_PREFIX, type DhcpEndpoint, type DhcpSubnet, type HostRoute, type Decoded } from './model.ts';
