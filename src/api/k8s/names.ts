/**
 * Naming rules shared by the CNI plugin, the Kubernetes conversion and the CLI:
 * WorkloadEndpoint names (`<node>-<orchestrator>-<workload>-<endpoint>`, each `-` inside a part
 * doubled, as libcalico-go's `names` package builds them) and host-side veth names.
 */
import { createHash } from 'node:crypto';
import { MargayError } from '../../errors/mod.ts';
import { firstInterfacePrefix } from '../felix-params.ts';

/** The parts a WorkloadEndpoint name is built from. Which ones are used depends on the orchestrator. */
export interface WorkloadEndpointIdentifiers {
  node: string;
  orchestrator: string;
  endpoint?: string;
  /** Used by orchestrators other than k8s, cni and libnetwork. */
  workload?: string;
  /** Used by the `k8s` orchestrator. */
  pod?: string;
  /** Used by the `cni` orchestrator. */
  containerID?: string;
}

/** A WorkloadEndpoint identifier that cannot be turned into a name; `field` is the offending part. */
export class WorkloadEndpointNameError extends MargayError {
  readonly field: string;

  constructor(field: string, message: string) {
    super('MARGAY_ERR_VALIDATION', `${field}: ${message}`);
    this.name = 'WorkloadEndpointNameError';
    this.field = field;
  }
}

interface Segment {
  value: string;
  field: string;
}

function segments(ids: WorkloadEndpointIdentifiers): Segment[] {
  if (!ids.node) throw new WorkloadEndpointNameError('node', 'field should be assigned');
  const node = { value: ids.node, field: 'node' };
  const orch = { value: ids.orchestrator ?? '', field: 'orchestrator' };
  const endpoint = { value: ids.endpoint ?? '', field: 'endpoint' };
  switch (orch.value) {
    case 'k8s':
      return [node, orch, { value: ids.pod ?? '', field: 'pod' }, endpoint];
    case 'cni':
      return [node, orch, { value: ids.containerID ?? '', field: 'containerID' }, endpoint];
    case 'libnetwork':
      return [node, orch, orch, endpoint];
    default:
      return [node, orch, { value: ids.workload ?? '', field: 'workload' }, endpoint];
  }
}

function escapeDashes(seg: Segment): string {
  if (seg.value.startsWith('-')) throw new WorkloadEndpointNameError(seg.field, "field must not begin with a '-'");
  if (seg.value.endsWith('-')) throw new WorkloadEndpointNameError(seg.field, "field must not end with a '-'");
  return seg.value.replaceAll('-', '--');
}

/**
 * The WorkloadEndpoint name for the identifiers: `node--1-k8s-pod--name-eth0` for node `node-1`,
 * pod `pod-name`, endpoint `eth0`.
 * @throws {WorkloadEndpointNameError} when a required part is missing or starts/ends with `-`.
 */
export function workloadEndpointName(ids: WorkloadEndpointIdentifiers): string {
  const parts: string[] = [];
  for (const seg of segments(ids)) {
    if (seg.value === '') throw new WorkloadEndpointNameError(seg.field, 'field should be assigned');
    parts.push(escapeDashes(seg));
  }
  return parts.join('-');
}

/**
 * The name prefix for the parts given, up to the first missing one, ending in `-`
 * (`node--1-k8s-` when the pod is unknown); the full name when nothing is missing.
 */
export function workloadEndpointNamePrefix(ids: WorkloadEndpointIdentifiers): string {
  const parts: string[] = [];
  for (const seg of segments(ids)) {
    if (seg.value === '') return `${parts.join('-')}-`;
    parts.push(escapeDashes(seg));
  }
  return parts.join('-');
}

function extractParts(name: string): string[] {
  const parts: string[] = [];
  let lastDash = -1;
  for (let i = 1; i < name.length; i++) {
    if (name[i] !== '-') continue;
    if (i < name.length - 1 && name[i + 1] === '-') {
      i++;
      continue;
    }
    parts.push(name.slice(lastDash + 1, i).replaceAll('--', '-'));
    lastDash = i;
  }
  parts.push(name.slice(lastDash + 1).replaceAll('--', '-'));
  return parts;
}

/**
 * Splits a WorkloadEndpoint name back into its identifiers (a prefix ending in `-` gives the
 * parts it has). Throws when the name is empty or has too many parts for its orchestrator.
 */
export function parseWorkloadEndpointName(name: string): WorkloadEndpointIdentifiers {
  if (name === '') throw new WorkloadEndpointNameError('name', 'cannot parse an empty name');
  const parts = extractParts(name);
  const ids: WorkloadEndpointIdentifiers = { node: parts[0] ?? '', orchestrator: '' };
  if (parts.length < 2) return ids;
  ids.orchestrator = parts[1]!;
  const fields: (keyof WorkloadEndpointIdentifiers)[] =
    ids.orchestrator === 'k8s' ? ['pod', 'endpoint']
    : ids.orchestrator === 'cni' ? ['containerID', 'endpoint']
    : ids.orchestrator === 'libnetwork' ? ['orchestrator', 'endpoint']
    : ['workload', 'endpoint'];
  const rest = parts.slice(2);
  if (rest.length > fields.length) {
    throw new WorkloadEndpointNameError('name', `cannot parse ${JSON.stringify(name)}: too many parts for orchestrator ${ids.orchestrator}`);
  }
  rest.forEach((part, i) => {
    const field = fields[i]!;
    if (field === 'orchestrator') return; // libnetwork repeats the orchestrator as the workload
    if (part !== '') ids[field] = part;
  });
  return ids;
}

/** True when `name` is the WorkloadEndpoint name of `ids` (parts left unset match anything). */
export function workloadEndpointNameMatches(ids: WorkloadEndpointIdentifiers, name: string): boolean {
  const segs = segments(ids);
  if (name.length < 2 * segs.length - 1) return false;
  const parts = extractParts(name);
  if (parts.length !== segs.length) return false;
  return segs.every((seg, i) => seg.value === '' || seg.value === parts[i]);
}

/**
 * The host-side veth name of a pod: the prefix (`cali`, or the first of a comma-separated
 * FELIX_INTERFACEPREFIX-style list) and the first 11 hex digits of sha1(`<namespace>.<pod>`).
 */
export function vethNameForPod(namespace: string, pod: string, prefix?: string): string {
  const first = firstInterfacePrefix(prefix);
  const digest = createHash('sha1').update(`${namespace}.${pod}`).digest('hex');
  return `${first}${digest.slice(0, 11)}`;
}
