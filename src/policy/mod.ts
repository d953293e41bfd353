/**
 * Policy evaluation as people ask for it, on the agent's own calculation code: a model of a set
 * of resources with its endpoints named, the trace of one packet and the verdict matrix of every
 * pair, and Kubernetes manifests made ready for offline evaluation. Pure: callers load the
 * resources (datastore or files) and render the reports (`margay policy`, `margay lab`).
 */
export { type NamedEndpoint, PolicyView } from './view.ts';
export { describePolicyKey, describeStep, runTrace, type TraceOutput } from './trace.ts';
export { type MatrixJson, runMatrix } from './matrix.ts';
export { OFFLINE_NODE, OFFLINE_POD_POOL, prepareOfflineDocuments } from './offline.ts';
