/**
 * The calculation graph: the pure core of the agent. Datastore updates go in, ordered and
 * coalesced {@link DataplaneUpdate} batches come out; the same model drives `margay policy
 * trace` and `policy matrix` through the evaluator.
 *
 * ```ts
 * const graph = buildCalcGraph({ hostname: 'node-1' });
 * graph.onSyncerEvents(events);        // or graph.onUpdate(key, resource) / graph.onInSync()
 * const batch = graph.flush();         // [] until in-sync, then full state + in-sync, then deltas
 *
 * const model = new ModelSnapshot().applyAll(batch);
 * tracePacket(model, { srcIp: '10.0.0.1', dstIp: '10.0.0.2', protocol: 'tcp', dstPort: 80 });
 * ```
 */
export { buildCalcGraph } from './graph.ts';
export type { CalcGraph, CalcGraphOptions, CalcGraphStats } from './graph.ts';
export type { LocalityMode } from './local-endpoint-filter.ts';
export { ModelSnapshot } from './snapshot.ts';
export type { IpSetState } from './snapshot.ts';
export { PolicyEvaluator, matrixVerdict, policyMatrix, tracePacket } from './evaluate.ts';
export type { MatrixOptions, MatrixPort, Packet, PolicyMatrix, TraceOptions, TraceReason, TraceResult, TraceStep } from './evaluate.ts';
export { keyOfResource, modelFromResources } from './offline.ts';
export type { OfflineModelOptions } from './offline.ts';
export { dataplaneSettings, defaultDataplaneSettings, openstackActive, SettingsResolver } from './settings-resolver.ts';
export type { ConfigLayer, ConfigSource, LocalConfig, ResolvedConfig, SettingsListener, SettingsResolverOptions } from './settings-resolver.ts';
export { makeUniqueId, namedPortSetId } from './ids.ts';
export type {
  CompiledPolicy,
  CompiledRule,
  DataplaneSettings,
  DataplaneUpdate,
  EndpointMatch,
  FailsafePort,
  HostEndpointPlan,
  IcmpMatch,
  IpFamily,
  IpSetKind,
  MatchCriteria,
  PortRange,
  RouteSpec,
  RuleAction,
  RuleOrigin,
  TierPlan,
  WorkloadEndpointPlan,
} from './model.ts';

// Re-exported for the other folders of src/ (they enter this folder only through this file).
export type { VxlanDevicePlan, VxlanPlan, VxlanRoutePlan } from './model.ts';
export { VXLAN_DEVICE_V4, VXLAN_DEVICE_V6, noVxlanPlan } from './vxlan-resolver.ts';
