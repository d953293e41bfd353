/**
 * `margay lab …`: a multi-host Margay cluster in network namespaces of this machine
 * (see src/lab/lab.ts). Long steps print progress on stderr; data goes to stdout.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { type Command, Option } from 'commander';
import { connectivityAll, renderConnectivity } from '../../lab/mod.ts';
import { isRunning } from '../../lab/mod.ts';
import { labDown, labUp, type LabContext, parsePodRef, podAdd, withStore, podRemove, probe, refreshPods, requireLab, targetAddress, targetNetns } from '../../lab/mod.ts';
import { kubectlFlags, labKubeconfig } from '../../lab/mod.ts';
import { controlPlaneRows, nodeRows } from '../../lab/mod.ts';
import { settleKubePods } from '../../lab/mod.ts';
import { failHost, recoverHost, restartAgent, restartKubelet } from '../../lab/mod.ts';
import { describeMissing } from '../../lab/mod.ts';
import { parsePortSpec, parseServeList } from '../../lab/mod.ts';
import { labDir, readState, writeState } from '../../lab/mod.ts';
import { readNodeStatus } from './node.ts';
import { registerLabVm } from './lab-vm.ts';
import { checkLabelKey, checkLabelValue } from '../../api/mod.ts';
import { globalNetworkPolicyKind, networkPolicyKind } from '../../api/mod.ts';
import { frrAt, frrSessions } from '../../lab/mod.ts';
import type { LabOptions, LabState } from '../../lab/mod.ts';
import { failRouter, fabricRows, recoverRouter, setLink } from '../../lab/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import type { CliContext } from '../context.ts';
import { formatTable } from '../../format/mod.ts';
import { LAB_CLOUD } from '../../lab/mod.ts';
import { printOpenStackStatus, registerLabOpenStack } from './lab-openstack.ts';
import { registerPassthrough } from './passthrough.ts';

function labContext(ctx: CliContext): LabContext {
  return { dir: labDir(), progress: (line) => ctx.stderr(`lab: ${line}\n`) };
}

/** `k=v,k2=v2` to a label map. */
export function parseLabels(text: string | undefined): Record<string, string> {
  const labels: Record<string, string> = {};
  if (!text) return labels;
  for (const pair of text.split(',')) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new MargayError('MARGAY_ERR_USAGE', `--labels: "${pair}" is not key=value`);
    const [key, value] = [pair.slice(0, eq).trim(), pair.slice(eq + 1).trim()];
    const problem = checkLabelKey(key) ?? checkLabelValue(value);
    if (problem !== undefined) throw new MargayError('MARGAY_ERR_USAGE', `--labels: ${problem}`);
    labels[key] = value;
  }
  return labels;
}

/** A commander parser of a whole number ≥ 1 for `flag`, refusing anything else with the flag's name. */
function positiveInt(flag: string): (text: string) => number {
  return (text) => {
    const n = Number(text);
    if (!/^\d+$/.test(text.trim()) || !Number.isInteger(n) || n < 1) throw new MargayError('MARGAY_ERR_USAGE', `${flag} ${JSON.stringify(text)}: expected a whole number ≥ 1`);
    return n;
  };
}

/** The CONTROL PLANE and NODES sections of a Kubernetes lab's status. */
async function kubernetesStatus(ctx: CliContext, state: LabState): Promise<void> {
  ctx.stdout(`Kubernetes: export KUBECONFIG=${labKubeconfig(state)}   (or: margay lab kubectl …)\n\nCONTROL PLANE\n`);
  ctx.stdout(formatTable(['COMPONENT', 'PROCESS', 'ADDRESS'], controlPlaneRows(state)));
  ctx.stdout('\nNODES\n');
  ctx.stdout(formatTable(['NODE', 'STATUS', 'KUBELET', 'CONTAINERD', 'VERSIONS'], await nodeRows(state)));
  ctx.stdout('\n');
}

async function status(ctx: CliContext, lab: LabContext): Promise<void> {
  const state = readState(lab.dir);
  if (!state) {
    ctx.stdout('No lab is up.\n');
    return;
  }
  ctx.stdout(`Datastore: ETCD_ENDPOINTS=${state.etcdEndpoint}\n`);
  // Labs started before the ranges were chosen per machine have none recorded.
  if (state.plan.ranges) ctx.stdout(`Ranges:    ${Object.entries(state.plan.ranges).map(([what, range]) => `${what} ${range}`).join(', ')}\n`);
  if (state.kubernetes) {
    ctx.stdout('\n');
    await kubernetesStatus(ctx, state);
    await refreshPods(state).catch(() => undefined);
  }
  printOpenStackStatus(ctx, state);
  ctx.stdout('\nHOSTS\n');
  const hostRows = state.plan.hosts.map((h) => {
    const agent = state.processes.find((p) => p.role === `agent ${h.name}`);
    const failed = state.failedHosts?.includes(h.name);
    return [h.name, h.netns, [h.address, h.address6].filter(Boolean).join(','), failed ? 'failed (wire cut)' : agent && isRunning(agent) ? `running (pid ${agent.pid})` : 'stopped'];
  });
  ctx.stdout(formatTable(['HOST', 'NAMESPACE', 'ADDRESSES', 'AGENT'], hostRows));
  ctx.stdout('\nBGP SESSIONS\n');
  const bgpRows: string[][] = [];
  for (const h of state.plan.hosts) {
    try {
      const node = await readNodeStatus(join(lab.dir, 'hosts', h.name, 'bird', 'bird.ctl'));
      for (const p of node.peers) bgpRows.push([h.name, p.address, p.type, p.state, p.info]);
    } catch (err) {
      bgpRows.push([h.name, '-', '-', 'unknown', (err as Error).message.split('\n')[0]!]);
    }
  }
  if (state.plan.router) {
    try {
      for (const s of await frrSessions(frrAt(state.plan.router.netns, join(lab.dir, 'router')))) {
        bgpRows.push(['router', s.peer, `eBGP (AS ${s.remoteAs})`, s.state === 'Established' ? 'up' : 'down', `${s.state}, ${s.prefixesReceived} prefixes received`]);
      }
    } catch (err) {
      bgpRows.push(['router', '-', '-', 'unknown', (err as Error).message.split('\n')[0]!]);
    }
  }
  ctx.stdout(formatTable(['HOST', 'PEER', 'TYPE', 'STATE', 'INFO'], bgpRows));
  if (state.plan.fabric) {
    const f = state.plan.fabric.options;
    ctx.stdout(`\nFABRIC (${f.topology}, ${f.racks} racks × ${f.hostsPerRack} hosts, ${f.dualHomed ? 'dual-homed' : 'single-homed'}, AS per ${f.asModel}; every link unnumbered)\n`);
    ctx.stdout(formatTable(['ROUTER', 'ROLE', 'AS', 'FRR', 'SESSIONS', 'PREFIXES'], await fabricRows(lab.dir, state)));
  }
  ctx.stdout('\nPODS\n');
  ctx.stdout(formatTable(['POD', 'HOST', 'ADDRESSES', 'LABELS', 'SERVES'], state.pods.map((p) => [
    `${p.namespace}/${p.name}`, p.host, p.addresses.join(','), Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(','), p.serve.join(','),
  ])));
  if ((state.vms ?? []).length > 0) {
    ctx.stdout('\nVMS\n');
    ctx.stdout(formatTable(['VM', 'HOST', 'KIND', 'ADDRESS', 'TAP', 'PORT', 'STATE'], (state.vms ?? []).map((v) => [
      v.name, v.host, v.kind, v.address, v.tap, `${v.portId} (${v.portSource})`, v.process && isRunning(v.process) ? `running (pid ${v.process.pid})` : 'stopped',
    ])));
  }
  ctx.stdout('\nPOLICIES\n');
  ctx.stdout(formatTable(['KIND', 'NAMESPACE', 'NAME', 'TIER', 'ORDER', 'SELECTOR'], await policyRows(state)));
}

/** Every enforced policy of the lab's datastore, in a table's rows. */
async function policyRows(state: LabState): Promise<string[][]> {
  const lists = await withStore(state, (store) => Promise.all([networkPolicyKind, globalNetworkPolicyKind].map((kind) => store.list(kind))));
  return lists.flatMap((l) => l.items).map((p) => {
    const spec = (p.spec ?? {}) as { tier?: string; order?: number; selector?: string };
    return [p.kind, p.metadata.namespace ?? '-', p.metadata.name, spec.tier ?? 'default', spec.order === undefined ? '-' : String(spec.order), spec.selector ?? 'all()'];
  });
}

/** The flags of `lab up`. */
interface LabUpFlags {
  hosts: number;
  router: boolean;
  ipv6: boolean;
  etcdMembers: number;
  kubernetes: boolean;
  openstack: boolean;
  routeReflectors: number;
  fabric?: 'leaf-spine';
  racks: number;
  hostsPerRack: number;
  dualHomed: boolean;
  asModel: 'rack' | 'host';
  discovery: boolean;
}

/** `lab up`'s flags as the lab's options. */
function labOptions(opts: LabUpFlags): LabOptions {
  const fabric = opts.fabric
    ? { fabric: { topology: opts.fabric, racks: opts.racks, hostsPerRack: opts.hostsPerRack, dualHomed: opts.dualHomed, asModel: opts.asModel, discovery: opts.discovery } }
    : {};
  return { hosts: opts.hosts, router: opts.router, ipv6: opts.ipv6, etcdMembers: opts.etcdMembers, kubernetes: opts.kubernetes, openstack: opts.openstack, routeReflectors: opts.routeReflectors, ...fabric };
}

/** Registers `lab`. */
export function registerLab(program: Command, ctx: CliContext): void {
  const lab = program.command('lab').description('A whole multi-host Margay cluster in network namespaces of this machine');

  lab.command('up')
    .description('Start etcd, N host namespaces on a fabric, an agent and BIRD on each (optionally an FRR router)')
    .option('--hosts <n>', 'number of hosts', positiveInt('--hosts'), 3)
    .option('--router', 'add an FRR router namespace with a second subnet behind it', false)
    .option('--ipv6', 'also give hosts and pods IPv6', false)
    .option('--route-reflectors <n>', 'the first N hosts are route reflectors and the node-to-node mesh is off', (v: string) => Number(v), 0)
    .option('--etcd-members <n>', 'etcd members: 1, or 3/5/7 for a cluster that survives a member failing', positiveInt('--etcd-members'), 1)
    .option('--kubernetes', 'also run a Kubernetes control plane, and containerd + kubelet on every host (pods come from the API)', false)
    .option('--openstack', 'also run a real neutron-server with Margay\'s ML2 mechanism driver (the openstack CLI works against it)', false)
    .addOption(new Option('--fabric <topology>', 'a data-centre fabric instead of one segment: FRR leaves and spines, hosts peering unnumbered with their leaves').choices(['leaf-spine']))
    .option('--racks <n>', 'racks of the fabric', positiveInt('--racks'), 2)
    .option('--hosts-per-rack <n>', 'hosts in each rack of the fabric', positiveInt('--hosts-per-rack'), 3)
    .option('--dual-homed', 'two leaves per rack; every host has an uplink to each', false)
    .addOption(new Option('--as-model <model>', 'AS per rack (iBGP to the leaves) or per host (eBGP)').choices(['rack', 'host']).default('rack'))
    .option('--discovery', 'hosts also connect to the leaves they find on their uplinks (margay.io/peer-discovery: neighbors)', false)
    .action(async (opts: LabUpFlags) => {
      const state = await labUp(labOptions(opts), labContext(ctx));
      ctx.stdout(`Lab is up: ${state.plan.hosts.length} host(s). Reach its datastore with:\n  export DATASTORE_TYPE=etcdv3 ETCD_ENDPOINTS=${state.etcdEndpoint}\n`);
      if (state.kubernetes) ctx.stdout(`and its Kubernetes API server with:\n  export KUBECONFIG=${state.kubernetes.kubeconfig}    (or: margay lab kubectl …)\n`);
      if (state.openstack) ctx.stdout(`and Neutron (${state.openstack.url}) with the openstack CLI:\n  export OS_CLIENT_CONFIG_FILE=${state.openstack.cloudsYaml} OS_CLOUD=${LAB_CLOUD}    (or: margay lab openstack …)\n`);
    });

  lab.command('down')
    .description('Remove every namespace, process and file of the lab (safe to run again, also after a crash)')
    .action(async () => {
      const { processes, namespaces } = await labDown(labContext(ctx));
      ctx.stdout(`Lab is down: stopped ${processes} process(es), removed ${namespaces} namespace(s).\n`);
    });

  lab.command('status').description('Hosts, BGP sessions and pods of the lab').action(() => status(ctx, labContext(ctx)));

  const pod = lab.command('pod').description('Pods created through the CNI plugin, as a container runtime would (with --kubernetes: through the API)');
  pod.command('add')
    .argument('<pod>', 'NAMESPACE/NAME')
    .option('--host <host>', 'the host to run it on (host-1 …); a Kubernetes lab lets the scheduler choose without it')
    .option('--labels <labels>', 'k=v,k2=v2')
    .option('--serve <ports>', 'ports its small server answers on, e.g. 80/tcp,81/udp', '')
    .action(async (ref: string, opts: { host?: string; labels?: string; serve: string }) => {
      const { namespace, name } = parsePodRef(ref);
      const added = await podAdd(labContext(ctx), { namespace, name, host: opts.host, labels: parseLabels(opts.labels), serve: parseServeList(opts.serve) });
      ctx.stdout(`Pod ${ref} is up on ${added.host} with ${added.addresses.join(', ')}\n`);
    });
  pod.command('rm')
    .alias('delete')
    .argument('<pod>', 'NAMESPACE/NAME')
    .action(async (ref: string) => {
      await podRemove(labContext(ctx), ref);
      ctx.stdout(`Pod ${ref} removed\n`);
    });

  registerLabVm(lab, ctx);

  const host = lab.command('host').description('Failures on demand: restart an agent, make a host fail, bring it back');
  host.command('restart-agent')
    .argument('<host>', 'host-1 …')
    .option('--kill', 'SIGKILL the agent instead of SIGTERM', false)
    .action(async (name: string, opts: { kill: boolean }) => {
      await restartAgent(labContext(ctx), name, { kill: opts.kill });
      ctx.stdout(`The agent of ${name} was ${opts.kill ? 'killed' : 'stopped'} and is running and in sync again\n`);
    });
  host.command('restart-kubelet')
    .argument('<host>', 'host-1 …')
    .option('--kill', 'SIGKILL the kubelet instead of SIGTERM', false)
    .description('Restart a host\'s kubelet (its pods keep running); resolves once its node is Ready')
    .action(async (name: string, opts: { kill: boolean }) => {
      await restartKubelet(labContext(ctx), name, { kill: opts.kill });
      ctx.stdout(`The kubelet of ${name} was ${opts.kill ? 'killed' : 'stopped'} and is running again; node Ready\n`);
    });
  host.command('fail')
    .argument('<host>', 'host-1 …')
    .description('Cut the host\'s wire and kill every process in it (agent, BIRD), as a crash would')
    .action(async (name: string) => {
      const { killed } = await failHost(labContext(ctx), name);
      ctx.stdout(`${name} has failed: wire cut, ${killed} process(es) killed. Bring it back with \`margay lab host recover ${name}\`\n`);
    });
  host.command('recover')
    .argument('<host>', 'host-1 …')
    .description('Restore the host\'s wire and start its agent again')
    .action(async (name: string) => {
      const missing = await recoverHost(labContext(ctx), name);
      ctx.stdout(`${name} is back: agent running and in sync\n`);
      if (missing.length > 0) ctx.stderr(`lab: warning: ${describeMissing(missing)}\n`);
    });

  const link = lab.command('link').description('Fabric links (--fabric): cut one, restore it');
  for (const [verb, up] of [['fail', false], ['recover', true]] as const) {
    link.command(verb)
      .argument('<a>', 'a host, leaf or spine (host-1, leaf-1a, spine-1)')
      .argument('<b>', 'the node at the link\'s other end')
      .description(up ? 'Restore a link of the fabric' : 'Cut a link of the fabric (the router\'s port goes down; both ends lose the carrier)')
      .action(async (a: string, b: string) => {
        const state = requireLab(labContext(ctx));
        const end = await setLink(state, a, b, up);
        ctx.stdout(`The link ${a} – ${b} is ${up ? 'up again' : `cut (${end.node} ${end.iface} down)`}\n`);
      });
  }
  const router = lab.command('router').description('Fabric routers (--fabric): make a leaf or spine fail, bring it back');
  router.command('fail')
    .argument('<router>', 'leaf-1a, spine-1 …')
    .description('Make a router fail silently: all its traffic dropped, its FRR killed (neighbours notice through BFD)')
    .action(async (name: string) => {
      const lab = labContext(ctx);
      const killed = await failRouter(requireLab(lab), name);
      ctx.stdout(`${name} has failed: traffic dropped, ${killed} FRR daemon(s) killed. Bring it back with \`margay lab router recover ${name}\`\n`);
    });
  router.command('recover')
    .argument('<router>', 'leaf-1a, spine-1 …')
    .description('Bring a failed router back: traffic flows, FRR starts again')
    .action(async (name: string) => {
      const lab = labContext(ctx);
      const state = requireLab(lab);
      await recoverRouter(lab.dir, state, name);
      writeState(lab.dir, state);
      ctx.stdout(`${name} is back: FRR running\n`);
    });

  lab.command('exec')
    .description('Run a command inside a host or pod namespace: margay lab exec host-1 -- ip route')
    .argument('<target>', 'a host (host-1), router, or a pod (NAMESPACE/NAME)')
    .argument('<command...>', 'the command and its arguments (after --)')
    .action(async (target: string, command: string[]) => {
      const netns = targetNetns(await refreshPods(requireLab(labContext(ctx))), target);
      const res = spawnSync('ip', ['netns', 'exec', netns, ...command], { stdio: 'inherit' });
      if (res.error) throw new MargayError('MARGAY_ERR_COMMAND_FAILED', `${command.join(' ')} could not be run in ${netns}: ${res.error.message}`);
      if (res.status !== 0) throw new MargayError('MARGAY_ERR_COMMAND_FAILED', `${command.join(' ')} exited with ${res.status ?? res.signal}`);
    });

  lab.command('probe')
    .description('Try one connection from a pod (or host) to a pod, host or address; exit 0 when connected')
    .argument('<from>', 'NAMESPACE/POD, host or router')
    .argument('<to>', 'NAMESPACE/POD, host or address')
    .argument('<port>', 'PORT/PROTO, e.g. 80/tcp')
    .option('--timeout <ms>', 'how long to wait', positiveInt('--timeout'), 1000)
    .option('-6, --ipv6', 'to the IPv6 address of a pod or host', false)
    .action(async (from: string, to: string, portText: string, opts: { timeout: number; ipv6: boolean }) => {
      const port = parsePortSpec(portText);
      const state = await refreshPods(requireLab(labContext(ctx)));
      const res = await probe(targetNetns(state, from), targetAddress(state, to, opts.ipv6 ? 6 : 4), port, opts.timeout);
      ctx.stdout(`${res.ok ? 'connected' : 'blocked'}: ${from} -> ${to} ${portText}${res.output ? ` (${res.output})` : ''}\n`);
      if (!res.ok) throw new MargayError('MARGAY_ERR_PROBE_FAILED', `${from} cannot reach ${to} on ${portText}`);
    });

  registerLabOpenStack(lab, ctx, labContext);

  registerPassthrough(lab, {
    name: 'kubectl',
    description: 'Run kubectl against the lab\'s API server: margay lab kubectl get pods -A',
    install: 'install it (apt-get install kubernetes-client)',
    command: (args) => ({ args: [...kubectlFlags(labKubeconfig(requireLab(labContext(ctx)))), ...args] }),
  });

  lab.command('connectivity')
    .description('Probe every pod pair and compare with `margay policy matrix`, mismatches marked')
    .option('--port <port>', 'PORT/PROTO (repeatable; default 80/tcp)', (v: string, p: string[] = []) => [...p, v])
    .addOption(new Option('--ip-version <version>', 'probe over IPv4, IPv6 (a lab up with --ipv6), or all the lab\'s families (default)').choices(['4', '6', 'all']).default('all'))
    .addOption(new Option('-o, --output <format>', 'output format').choices(['table', 'json']).default('table'))
    .action(async (opts: { port?: string[]; output: string; ipVersion: string }) => {
      const ports = (opts.port ?? ['80/tcp']).map(parsePortSpec);
      const state = await refreshPods(requireLab(labContext(ctx)));
      if (opts.ipVersion === '6' && !state.plan.options.ipv6) throw new MargayError('MARGAY_ERR_USAGE', '--ip-version 6: this lab has no IPv6 (start it with `margay lab up --ipv6`)');
      if (state.kubernetes) {
        const missing = await settleKubePods(state);
        if (missing) ctx.stderr(`lab: warning: ${missing}\n`);
      }
      const reports = await connectivityAll(state, ports, opts.ipVersion === 'all' ? {} : { families: [Number(opts.ipVersion) as 4 | 6] });
      ctx.stdout(opts.output === 'json' ? `${JSON.stringify(reports, null, 2)}\n` : reports.map(renderConnectivity).join('\n'));
      const mismatches = reports.reduce((n, r) => n + r.mismatches, 0);
      if (mismatches > 0) throw new MargayError('MARGAY_ERR_PROBE_FAILED', `${mismatches} probe(s) disagree with policy`);
    });
}
