/**
 * `margay policy trace` and `margay policy matrix`: option parsing, loading the resources (from
 * the datastore or, with `-f`, offline from manifests) and rendering. The evaluation itself is
 * `src/policy` (endpoint names, offline placeholders: see there), on the agent's own calculation
 * graph and evaluator.
 */
import { Option, type Command } from 'commander';
import { toResource } from '../../api/mod.ts';
import type { Resource } from '../../api/mod.ts';
import type { MatrixPort } from '../../calc/mod.ts';
import { RESOURCES_PREFIX } from '../../datastore/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import { type MatrixJson, PolicyView, prepareOfflineDocuments, runMatrix, runTrace, type TraceOutput } from '../../policy/mod.ts';
import type { CliContext } from '../context.ts';
import { readDocuments } from '../input.ts';
import { formatTable } from '../../format/mod.ts';

// -------------------------------------------------------------------------------------------------
// Loading the resources

function collect(value: string, previous: string[] = []): string[] {
  return [...previous, value];
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

// -------------------------------------------------------------------------------------------------
// Rendering

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

interface MatrixCommandOptions extends SourceOptions {
  port?: string[];
  endpoint?: string[];
  namespace?: string[];
  ipVersion?: '4' | '6';
  output: 'table' | 'json';
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
