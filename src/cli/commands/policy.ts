/**
 * `margay policy trace` and `margay policy matrix`: what the dataplane decides for a packet
 * between two endpoints, and for every ordered pair of endpoints, computed by the agent's own
 * calculation graph (every endpoint treated as local) and the evaluator, from the datastore or,
 * with `-f`, offline from manifests.
 *
 * Endpoints are named as
 * - `NS/POD`: the WorkloadEndpoint of that pod (or workload) in namespace NS,
 * - `NS/WEP-NAME` or `WEP-NAME`: a WorkloadEndpoint by name (the bare name must be unique),
 * - `hep:NAME` or a HostEndpoint's name,
 * - an IP address: the endpoint that has it, or, when none does, an address outside the model
 *   (only the other side's policy applies).
 *
 * Offline (`-f`), Kubernetes Pods without an IP get a deterministic placeholder address from
 * 10.244.0.0/16 (pods sorted by namespace and name, numbered from 10.244.0.1, skipping addresses
 * other pods already have) and `spec.nodeName: margay-offline` when unscheduled; a Namespace
 * gets the `kubernetes.io/metadata.name` label the API server would add, and a namespace that a
 * Pod uses but no manifest defines is added with just that label.
 */
import { Option, type Command } from 'commander';
import { isKubernetesKind } from '../../api/k8s/mod.ts';
import type { DecodedDocument } from '../../api/decode.ts';
import { toResource } from '../../api/decode.ts';
import type { Resource } from '../../api/resource.ts';
import {
  type MatrixPort,
  modelFromResources,
  type ModelSnapshot,
  PolicyEvaluator,
  policyMatrix,
  type TraceResult,
  type TraceStep,
} from '../../calc/mod.ts';
import { RESOURCES_PREFIX } from '../../datastore/keys.ts';
import { MargayError } from '../../errors/mod.ts';
import type { CliContext } from '../context.ts';
import { readDocuments } from '../input.ts';
import { formatTable } from '../output.ts';

/** The placeholder pool of offline pods without an IP. */
export const OFFLINE_POD_POOL = '10.244.0.0/16';
/** The node given to unscheduled offline pods. */
export const OFFLINE_NODE = 'margay-offline';

const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

// -------------------------------------------------------------------------------------------------
// Loading the resources

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

function asRecord(v: unknown): Record<string, unknown> | undefined {
  return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
}

function ipToInt(ip: string): number | undefined {
  const m = /^(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(ip);
  if (!m) return undefined;
  return ((Number(m[1]) << 24) >>> 0) + (Number(m[2]) << 16) + (Number(m[3]) << 8) + Number(m[4]);
}

function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/**
 * Prepares Kubernetes objects for offline evaluation (see the file comment): placeholder pod
 * IPs, a node for unscheduled pods, the automatic namespace label, implied namespaces.
 */
export function prepareOfflineDocuments(docs: DecodedDocument[]): DecodedDocument[] {
  const out = docs.map((d) => ({ ...d, object: structuredClone(d.object) }));
  const pods = out.filter((d) => isKubernetesKind(d.object) && asRecord(d.object)?.kind === 'Pod');
  const used = new Set<number>();
  const needIp: Record<string, unknown>[] = [];
  const podNamespaces = new Set<string>();
  for (const d of pods) {
    const pod = d.object as Record<string, unknown>;
    const meta = asRecord(pod.metadata) ?? {};
    podNamespaces.add(typeof meta.namespace === 'string' ? meta.namespace : 'default');
    const spec = asRecord(pod.spec);
    if (spec && (spec.nodeName === undefined || spec.nodeName === '')) spec.nodeName = OFFLINE_NODE;
    const status = asRecord(pod.status);
    const ips = [
      ...(typeof status?.podIP === 'string' ? [status.podIP] : []),
      ...(Array.isArray(status?.podIPs) ? (status.podIPs as Array<{ ip?: unknown }>).map((p) => p?.ip) : []),
    ].filter((ip): ip is string => typeof ip === 'string' && ip !== '');
    const annotations = asRecord(meta.annotations) ?? {};
    const annotated = ['cni.projectcalico.org/podIP', 'cni.projectcalico.org/podIPs'].some((a) => typeof annotations[a] === 'string' && annotations[a] !== '');
    for (const ip of ips) {
      const n = ipToInt(ip.replace(/\/32$/, ''));
      if (n !== undefined) used.add(n);
    }
    if (ips.length === 0 && !annotated) needIp.push(pod);
  }
  needIp.sort((a, b) => {
    const ka = `${asRecord(a.metadata)?.namespace ?? 'default'}/${asRecord(a.metadata)?.name}`;
    const kb = `${asRecord(b.metadata)?.namespace ?? 'default'}/${asRecord(b.metadata)?.name}`;
    return ka < kb ? -1 : ka > kb ? 1 : 0;
  });
  const base = ipToInt('10.244.0.0')!;
  let next = 1;
  for (const pod of needIp) {
    while (used.has(base + next)) next++;
    if (next >= 65535) throw new MargayError('MARGAY_ERR_USAGE', `too many pods without an IP for the offline pool ${OFFLINE_POD_POOL}`);
    const ip = intToIp(base + next);
    used.add(base + next);
    const status = asRecord(pod.status) ?? {};
    status.podIP = ip;
    status.podIPs = [{ ip }];
    pod.status = status;
  }
  const namespaces = new Set<string>();
  for (const d of out) {
    const obj = asRecord(d.object);
    if (!isKubernetesKind(d.object) || obj?.kind !== 'Namespace') continue;
    const meta = asRecord(obj.metadata);
    if (!meta || typeof meta.name !== 'string') continue;
    namespaces.add(meta.name);
    const labels = asRecord(meta.labels) ?? {};
    labels[NAMESPACE_NAME_LABEL] ??= meta.name;
    meta.labels = labels;
  }
  for (const ns of [...podNamespaces].sort()) {
    if (namespaces.has(ns)) continue;
    out.push({
      source: { file: '(implied by its pods)', document: 0 },
      object: { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns, labels: { [NAMESPACE_NAME_LABEL]: ns } } },
    });
  }
  return out;
}

/** Reads and converts manifests for offline evaluation. */
export function loadOfflineResources(files: string[], recursive: boolean): Resource[] {
  const docs = prepareOfflineDocuments(readDocuments(files, recursive));
  return docs.map((d) => toResource(d));
}

/** Reads every v3 resource from the datastore. */
async function loadDatastoreResources(ctx: CliContext): Promise<Resource[]> {
  const store = await ctx.store();
  const { items } = await store.datastore.list(RESOURCES_PREFIX);
  const out: Resource[] = [];
  for (const kv of items) {
    try {
      out.push(JSON.parse(kv.value) as Resource);
    } catch {
      ctx.stderr(`Warning: ${kv.key}: the stored value is not JSON; ignored\n`);
    }
  }
  return out;
}

// -------------------------------------------------------------------------------------------------
// Naming endpoints

/** An endpoint of the model with the names a user may give it. */
export interface NamedEndpoint {
  /** Display name: `NS/POD` for workloads with a pod or workload name, else `NS/WEP-NAME`; `hep:NAME`. */
  name: string;
  /** The model key: `<ns>/<wep-name>` for workloads, the HostEndpoint name for hosts. */
  key: string;
  kind: 'workload' | 'host';
  addresses: string[];
}

/** The model and how to find endpoints in it. */
export class PolicyView {
  readonly snapshot: ModelSnapshot;
  readonly endpoints: NamedEndpoint[];
  readonly evaluator: PolicyEvaluator;

  constructor(resources: Resource[], options: { onWarning?: (message: string) => void } = {}) {
    this.snapshot = modelFromResources(resources, { onWarning: (m) => options.onWarning?.(m) });
    this.evaluator = new PolicyEvaluator(this.snapshot);
    const weps = new Map<string, Resource>();
    for (const r of resources) if (r.kind === 'WorkloadEndpoint') weps.set(`${r.metadata.namespace ?? 'default'}/${r.metadata.name}`, r);
    const endpoints: NamedEndpoint[] = [];
    const strip = (a: string): string => a.slice(0, a.indexOf('/') < 0 ? a.length : a.indexOf('/'));
    for (const plan of this.snapshot.workloads.values()) {
      const res = weps.get(plan.key);
      const ns = plan.key.slice(0, plan.key.indexOf('/'));
      const spec = (res?.spec ?? {}) as { pod?: string; workload?: string };
      const short = spec.pod || spec.workload;
      endpoints.push({ name: short ? `${ns}/${short}` : plan.key, key: plan.key, kind: 'workload', addresses: plan.addresses.map(strip) });
    }
    // Two endpoints of one pod (eth0, eth1) cannot share the short name.
    const counts = new Map<string, number>();
    for (const e of endpoints) counts.set(e.name, (counts.get(e.name) ?? 0) + 1);
    for (const e of endpoints) if ((counts.get(e.name) ?? 0) > 1) e.name = e.key;
    for (const plan of this.snapshot.hostEndpoints.values()) {
      endpoints.push({ name: `hep:${plan.key}`, key: plan.key, kind: 'host', addresses: plan.addresses.map(strip) });
    }
    endpoints.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
    this.endpoints = endpoints;
  }

  /**
   * Finds an endpoint by the names of the file comment; for an address outside the model,
   * returns `{address}` only. Throws MARGAY_ERR_NOT_FOUND / MARGAY_ERR_USAGE naming the choices.
   */
  resolve(text: string): { endpoint?: NamedEndpoint; address?: string } {
    const byName = this.endpoints.find((e) => e.name === text || (e.kind === 'workload' && e.key === text) || (e.kind === 'host' && e.key === text));
    if (byName) return { endpoint: byName };
    if (text.startsWith('hep:')) throw new MargayError('MARGAY_ERR_NOT_FOUND', `no HostEndpoint named "${text.slice(4)}"`);
    if (/^[0-9a-fA-F:.]+$/.test(text) && (text.includes('.') || text.includes(':'))) {
      const withIp = this.endpoints.filter((e) => e.addresses.includes(text));
      const workload = withIp.find((e) => e.kind === 'workload');
      return { endpoint: workload ?? withIp[0], address: text };
    }
    if (!text.includes('/')) {
      const matches = this.endpoints.filter((e) => e.kind === 'workload' && e.key.slice(e.key.indexOf('/') + 1) === text);
      if (matches.length === 1) return { endpoint: matches[0]! };
      if (matches.length > 1) {
        throw new MargayError('MARGAY_ERR_USAGE', `"${text}" names WorkloadEndpoints in several namespaces (${matches.map((m) => m.key).join(', ')}): use NAMESPACE/NAME`);
      }
    }
    const known = this.endpoints.slice(0, 12).map((e) => e.name).join(', ');
    throw new MargayError(
      'MARGAY_ERR_NOT_FOUND',
      `no endpoint "${text}" (name one as NAMESPACE/POD, a WorkloadEndpoint name, hep:NAME or an IP address${known ? `; known: ${known}${this.endpoints.length > 12 ? ', …' : ''}` : '; the model has no endpoints'})`,
    );
  }

  /** The display name of a model key. */
  nameOf(key: string | undefined): string | undefined {
    if (key === undefined) return undefined;
    return this.endpoints.find((e) => e.key === key)?.name ?? key;
  }
}

// -------------------------------------------------------------------------------------------------
// Ports and protocols

const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;

/** Parses `80`, `80/TCP`, `TCP/80` or `udp:53` (TCP when no protocol is given). */
export function parsePortSpec(text: string): MatrixPort {
  const parts = text.split(/[/:]/);
  let port: string | undefined;
  let protocol = 'tcp';
  if (parts.length === 1) port = parts[0];
  else if (parts.length === 2) {
    if (/^\d+$/.test(parts[0]!)) [port, protocol] = [parts[0], parts[1]!.toLowerCase()];
    else [protocol, port] = [parts[0]!.toLowerCase(), parts[1]];
  }
  const n = Number(port);
  if (port === undefined || !/^\d+$/.test(port) || n < 1 || n > 65535 || !(PROTOCOLS as readonly string[]).includes(protocol)) {
    throw new MargayError('MARGAY_ERR_USAGE', `--port ${JSON.stringify(text)}: expected PORT or PORT/PROTOCOL with a port 1-65535 and TCP, UDP or SCTP (e.g. 80/TCP)`);
  }
  return { port: n, protocol: protocol as MatrixPort['protocol'] };
}

function portLabel(p: MatrixPort): string {
  return `${p.port}/${p.protocol.toUpperCase()}`;
}

// -------------------------------------------------------------------------------------------------
// Rendering

/** A policy or profile key as a person reads it. */
export function describePolicyKey(key: string): string {
  if (key.startsWith('np/')) return `NetworkPolicy ${key.slice(3)}`;
  if (key.startsWith('gnp/')) return `GlobalNetworkPolicy ${key.slice(4)}`;
  if (key.startsWith('pro/')) return `Profile ${key.slice(4)}`;
  return key;
}

/** One step of a trace as a sentence. */
export function describeStep(step: TraceStep): string {
  const rule = (): string => `${step.direction} rule ${step.ruleIndex}`;
  switch (step.reason) {
    case 'rule':
      return `tier ${step.tier}, ${describePolicyKey(step.policy ?? '')}, ${rule()}: ${step.action}${step.logPrefix !== undefined ? ` (prefix "${step.logPrefix}")` : ''}`;
    case 'end-of-tier':
      return `tier ${step.tier}: no policy decided, end of tier: ${step.action}`;
    case 'profile':
      return `${describePolicyKey(step.policy ?? '')}, ${rule()}: ${step.action}${step.logPrefix !== undefined ? ` (prefix "${step.logPrefix}")` : ''}`;
    case 'end-of-profiles':
      return 'no policy or profile allowed it: deny (end of the endpoint chain)';
    case 'no-profile-default-deny':
      return 'no policy decided and the endpoint has no profile: deny (default)';
    case 'anti-spoofing':
      return 'the source address is not the workload\'s own: deny (anti-spoofing)';
    case 'same-endpoint':
      return 'source and destination are the same endpoint: allow';
    case 'failsafe':
      return `failsafe port: ${step.action}`;
  }
}

interface TraceOutput {
  verdict: 'allow' | 'deny';
  packet: { protocol: string; srcIp: string; srcPort: number; dstIp: string; dstPort: number };
  from: { name?: string; key?: string; address: string };
  to: { name?: string; key?: string; address: string };
  decidedBy: (TraceStep & { description: string }) | { description: string };
  steps: Array<TraceStep & { description: string }>;
}

function pickAddresses(from: { endpoint?: NamedEndpoint; address?: string }, to: { endpoint?: NamedEndpoint; address?: string }): [string, string] {
  const fromList = from.address !== undefined ? [from.address] : from.endpoint?.addresses ?? [];
  const toList = to.address !== undefined ? [to.address] : to.endpoint?.addresses ?? [];
  const v4first = (l: string[]): string[] => [...l].sort((a, b) => Number(a.includes(':')) - Number(b.includes(':')));
  for (const a of v4first(fromList)) {
    const b = v4first(toList).find((x) => x.includes(':') === a.includes(':'));
    if (b !== undefined) return [a, b];
  }
  throw new MargayError('MARGAY_ERR_USAGE', `the two endpoints have no addresses of the same IP family (from: ${fromList.join(', ') || 'none'}; to: ${toList.join(', ') || 'none'})`);
}

function renderTrace(out: TraceOutput): string {
  const who = (s: { name?: string; key?: string; address: string }): string =>
    s.name !== undefined ? `${s.name} (${s.key === s.name ? '' : `${s.key}, `}${s.address})` : `${s.address} (outside the model: no policy applies on this side)`;
  const lines = [
    `from:    ${who(out.from)}`,
    `to:      ${who(out.to)}`,
    `packet:  ${out.packet.protocol.toUpperCase()} ${out.packet.srcIp}:${out.packet.srcPort} -> ${out.packet.dstIp}:${out.packet.dstPort}`,
  ];
  let current = '';
  for (const step of out.steps) {
    const head = `${step.direction} of ${out.from.key === step.endpoint ? out.from.name : out.to.key === step.endpoint ? out.to.name : step.endpoint}`;
    if (head !== current) {
      lines.push(`${head}:`);
      current = head;
    }
    lines.push(`  ${step.description}`);
  }
  if (out.steps.length === 0) lines.push('no endpoint of the model is involved: no policy applies');
  lines.push(`verdict: ${out.verdict.toUpperCase()}`);
  lines.push(`decided by: ${out.decidedBy.description}`);
  return lines.join('\n') + '\n';
}

// -------------------------------------------------------------------------------------------------
// Commands

interface SourceOptions {
  filename?: string[];
  recursive?: boolean;
}

async function loadView(ctx: CliContext, opts: SourceOptions): Promise<PolicyView> {
  const resources = opts.filename ? loadOfflineResources(opts.filename, opts.recursive ?? false) : await loadDatastoreResources(ctx);
  return new PolicyView(resources, { onWarning: (m) => ctx.stderr(`Warning: ${m}\n`) });
}

interface TraceOptions extends SourceOptions {
  from: string;
  to: string;
  port?: string;
  protocol: string;
  srcPort: string;
  output: 'text' | 'json';
}

/** Runs a trace and builds its output (exported for tests). */
export function runTrace(view: PolicyView, opts: { from: string; to: string; port?: number; protocol: string; srcPort?: number }): TraceOutput {
  const from = view.resolve(opts.from);
  const to = view.resolve(opts.to);
  const [srcIp, dstIp] = pickAddresses(from, to);
  const protocol = opts.protocol.toLowerCase();
  const ported = protocol === 'tcp' || protocol === 'udp' || protocol === 'sctp';
  if (ported && opts.port === undefined) throw new MargayError('MARGAY_ERR_USAGE', `--port is required for ${protocol.toUpperCase()}`);
  const srcPort = opts.srcPort ?? 49152;
  const result: TraceResult = view.evaluator.trace(
    { srcIp, dstIp, protocol, ...(ported ? { srcPort, dstPort: opts.port } : {}) },
    { ...(from.endpoint ? { from: from.endpoint.key } : {}), ...(to.endpoint ? { to: to.endpoint.key } : {}) },
  );
  const steps = result.steps.map((s) => ({ ...s, description: describeStep(s) }));
  const last = [...steps].reverse().find((s) => s.action !== 'log');
  return {
    verdict: result.verdict,
    packet: { protocol, srcIp, srcPort: ported ? srcPort : 0, dstIp, dstPort: ported ? opts.port! : 0 },
    from: { ...(from.endpoint ? { name: from.endpoint.name, key: from.endpoint.key } : {}), address: srcIp },
    to: { ...(to.endpoint ? { name: to.endpoint.name, key: to.endpoint.key } : {}), address: dstIp },
    decidedBy: last ?? { description: 'no policy applies to either side: allow' },
    steps,
  };
}

interface MatrixCommandOptions extends SourceOptions {
  port?: string[];
  endpoint?: string[];
  namespace?: string[];
  ipVersion?: '4' | '6';
  output: 'table' | 'json';
}

/** The matrix as `-o json` prints it. */
export interface MatrixJson {
  endpoints: Array<{ name: string; key: string; kind: 'workload' | 'host'; addresses: string[] }>;
  ports: string[];
  /** `matrix[port][from][to]`. */
  matrix: Record<string, Record<string, Record<string, 'allow' | 'deny'>>>;
}

/** Computes the matrix (exported for tests). */
export function runMatrix(view: PolicyView, opts: { ports: MatrixPort[]; endpoints?: string[]; namespaces?: string[]; ipVersion?: 4 | 6 }): MatrixJson {
  let chosen = opts.endpoints?.length
    ? opts.endpoints.map((e) => {
        const r = view.resolve(e);
        if (!r.endpoint) throw new MargayError('MARGAY_ERR_USAGE', `--endpoint ${e}: not an endpoint of the model`);
        return r.endpoint;
      })
    : view.endpoints.filter((e) => e.kind === 'workload');
  if (opts.namespaces?.length) chosen = chosen.filter((e) => e.kind === 'workload' && opts.namespaces!.includes(e.key.slice(0, e.key.indexOf('/'))));
  const m = policyMatrix(view.snapshot, chosen.map((e) => e.key), opts.ports, opts.ipVersion !== undefined ? { ipVersion: opts.ipVersion } : {});
  const matrix: MatrixJson['matrix'] = {};
  m.ports.forEach((p, pi) => {
    const table: Record<string, Record<string, 'allow' | 'deny'>> = {};
    chosen.forEach((from, i) => {
      const row: Record<string, 'allow' | 'deny'> = {};
      chosen.forEach((to, j) => (row[to.name] = m.verdicts[pi]![i]![j]!));
      table[from.name] = row;
    });
    matrix[portLabel(p)] = table;
  });
  return {
    endpoints: chosen.map((e) => ({ name: e.name, key: e.key, kind: e.kind, addresses: e.addresses })),
    ports: m.ports.map(portLabel),
    matrix,
  };
}

function renderMatrix(m: MatrixJson): string {
  if (m.endpoints.length === 0) return 'No endpoints.\n';
  const names = m.endpoints.map((e) => e.name);
  const blocks = m.ports.map((port) => {
    const rows = names.map((from) => [from, ...names.map((to) => m.matrix[port]![from]![to]!)]);
    return `${port} (rows: from, columns: to)\n${formatTable(['FROM\\TO', ...names], rows)}`;
  });
  return blocks.join('\n');
}

/** Registers `policy trace` and `policy matrix`. */
export function registerPolicy(program: Command, ctx: CliContext): void {
  const policy = program.command('policy').description('Evaluate policy: trace one packet, or the verdict matrix of every pair of endpoints');
  const fileOptions = (cmd: Command): Command =>
    cmd
      .option('-f, --filename <file>', 'evaluate these manifests offline instead of the datastore (repeatable; a directory, or - for stdin)', collect)
      .option('-R, --recursive', 'read directories recursively', false);

  fileOptions(
    policy
      .command('trace')
      .description('The verdict for one packet from A to B and what decided it (tier, policy, rule, or the default)')
      .requiredOption('--from <endpoint>', 'sender: NAMESPACE/POD, a WorkloadEndpoint name, hep:NAME or an IP address')
      .requiredOption('--to <endpoint>', 'receiver, named the same ways')
      .option('--port <port>', 'destination port (required for TCP, UDP and SCTP)')
      .option('--protocol <protocol>', 'TCP, UDP, SCTP, ICMP, ICMPv6 or a number', 'TCP')
      .option('--src-port <port>', 'source port', '49152')
      .addOption(new Option('-o, --output <format>', 'output format').choices(['text', 'json']).default('text')),
  ).action(async (opts: TraceOptions) => {
    const port = opts.port === undefined ? undefined : Number(opts.port);
    if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
      throw new MargayError('MARGAY_ERR_USAGE', `--port ${JSON.stringify(opts.port)}: must be a port number 1-65535`);
    }
    const srcPort = Number(opts.srcPort);
    if (!Number.isInteger(srcPort) || srcPort < 1 || srcPort > 65535) {
      throw new MargayError('MARGAY_ERR_USAGE', `--src-port ${JSON.stringify(opts.srcPort)}: must be a port number 1-65535`);
    }
    const view = await loadView(ctx, opts);
    const out = runTrace(view, { from: opts.from, to: opts.to, port, protocol: opts.protocol, srcPort });
    ctx.stdout(opts.output === 'json' ? `${JSON.stringify(out, null, 2)}\n` : renderTrace(out));
  });

  fileOptions(
    policy
      .command('matrix')
      .description('The verdict for every ordered pair of workload endpoints (rows: from, columns: to), per port')
      .option('--port <port>', 'PORT/PROTOCOL to evaluate, e.g. 80/TCP (repeatable; default 80/TCP)', collect)
      .option('--endpoint <endpoint>', 'only these endpoints (repeatable; default every workload endpoint)', collect)
      .option('-n, --namespace <namespace>', 'only workload endpoints of these namespaces (repeatable)', collect)
      .addOption(new Option('--ip-version <version>', 'only this IP family (default: IPv4 where both ends have it, else IPv6)').choices(['4', '6']))
      .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table')),
  ).action(async (opts: MatrixCommandOptions) => {
    const ports = (opts.port ?? ['80/TCP']).map(parsePortSpec);
    const view = await loadView(ctx, opts);
    const m = runMatrix(view, {
      ports,
      ...(opts.endpoint ? { endpoints: opts.endpoint } : {}),
      ...(opts.namespace ? { namespaces: opts.namespace } : {}),
      ...(opts.ipVersion ? { ipVersion: Number(opts.ipVersion) as 4 | 6 } : {}),
    });
    ctx.stdout(opts.output === 'json' ? `${JSON.stringify(m, null, 2)}\n` : renderMatrix(m));
  });
  // Subcommands report errors through the program, like every other command (never process.exit).
  for (const cmd of policy.commands) {
    cmd.exitOverride().configureOutput({ writeOut: (t) => ctx.stdout(t), writeErr: (t) => ctx.stderr(t), outputError: () => {} });
  }
}
