/**
 * Margay's CNI service, run inside the agent, and what the thin plugin binaries need from it.
 * The agent calls {@link startCniService} with its datastore, IPAM, node name, host namespace and
 * the `waitForEndpointProgrammed` hook. See docs/cni.md.
 */
export { startCniService, DEFAULT_CNI_SOCKET } from './server.ts';
export type { CniServer, CniServerOptions } from './server.ts';
export { CniService, versionInfo } from './service.ts';
export type { CniReply, PluginKind } from './service.ts';
export type { AgentReadiness, CniIpam, CniServiceOptions, EndpointRef } from './context.ts';
export { CniCode, CniError, SUPPORTED_VERSIONS, CNI_SPEC_VERSION } from './spec.ts';
export { NETWORK_ANNOTATION } from './main-plugin.ts';
export { Plumbing, HOST_MAC, GATEWAY_V4, GATEWAY_V6 } from './plumbing.ts';
export type { PlumbingOptions, VethSpec, WorkloadPlumbing } from './plumbing.ts';
export { workloadIdentity, vethNameForContainer, handleFor } from './identity.ts';
export type { WorkloadIdentity } from './identity.ts';
