/**
 * `lab up --openstack`: a real neutron-server with Margay's ML2 mechanism driver in its own
 * control-plane namespace on the fabric (`mgl-openstack`, the fabric's third address), on the lab's
 * etcd (its unix socket: etcd still has no address anywhere), as Kubernetes' control plane runs in
 * src/lab/kubernetes/. The operator reaches Neutron's API through a forwarder on 127.0.0.1; the
 * `openstack` CLI through the clouds.yaml written here (cloud `margay-lab`, no keystone).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { buildControlNamespace } from '../fabric.ts';
import { startNetnsForwarder } from '../forwarder.ts';
import { type ProcessRecord, isRunning, startProcess } from '../processes.ts';
import { type LabState, writeState } from '../state.ts';
import { createNeutronSchema, neutronServerCommand, waitNeutronReady, writeNeutronConfig } from './neutron.ts';

/** Where the lab is and how it reports progress (the same shape as the lab's context). */
export interface OpenStackUpContext {
  dir: string;
  progress: (line: string) => void;
}

/** How long neutron-server may take to answer (it needs ~6 s on a quiet machine). */
const NEUTRON_READY_MS = 120_000;

/** The driver's resync period in the lab: short, so drift is repaired within a test's patience. */
export const LAB_RESYNC_SECONDS = 10;

/** The folder of the lab's OpenStack files. */
export function openstackDir(labDir: string): string {
  return join(labDir, 'openstack');
}

/** The cloud name of the lab in its clouds.yaml. */
export const LAB_CLOUD = 'margay-lab';

/** The environment that points the `openstack` CLI at the lab. */
export function openstackEnv(state: LabState): NodeJS.ProcessEnv {
  return { ...process.env, OS_CLIENT_CONFIG_FILE: state.openstack!.cloudsYaml, OS_CLOUD: LAB_CLOUD };
}

/** clouds.yaml for Neutron without keystone: no authentication, the network endpoint given. */
function cloudsYaml(url: string): string {
  return [
    'clouds:',
    `  ${LAB_CLOUD}:`,
    '    auth_type: none',
    '    auth:',
    `      endpoint: ${url}`,
    `    network_endpoint_override: ${url}/`,
    '    region_name: RegionOne',
    '',
  ].join('\n');
}

function record(ctx: OpenStackUpContext, state: LabState, ...records: ProcessRecord[]): void {
  state.processes.push(...records);
  writeState(ctx.dir, state);
}

/** The neutron-server files of a lab (its configuration written by {@link startOpenStack}). */
function labNeutronFiles(labDir: string, state: LabState) {
  const o = state.plan.openstack!;
  return writeNeutronConfig({ dir: openstackDir(labDir), etcdEndpoint: state.etcdEndpoint, bindHost: o.address.split('/')[0]!, port: o.apiPort, resyncInterval: LAB_RESYNC_SECONDS });
}

/**
 * Starts neutron-server in the lab's OpenStack namespace on its existing database (also to start
 * it again after it died), records it and waits until it answers through the forwarder.
 */
export async function startOpenStackServer(ctx: OpenStackUpContext, state: LabState): Promise<ProcessRecord> {
  const files = labNeutronFiles(ctx.dir, state);
  const command = neutronServerCommand(files);
  const server = startProcess({ role: 'neutron-server', cmd: command.cmd, args: command.args, env: command.env, netns: state.plan.openstack!.netns, logFile: join(openstackDir(ctx.dir), 'neutron-server.stdout.log') });
  record(ctx, state, server);
  if (state.openstack) await waitNeutronReady({ url: state.openstack.url, timeoutMs: NEUTRON_READY_MS, alive: () => isRunning(server), logFile: files.logFile });
  return server;
}

/** The OpenStack half of `lab up --openstack` (the hosts' agents already run: their Nodes exist). */
export async function startOpenStack(ctx: OpenStackUpContext, state: LabState): Promise<void> {
  const o = state.plan.openstack!;
  const dir = openstackDir(ctx.dir);
  mkdirSync(dir, { recursive: true });
  const address = o.address.split('/')[0]!;
  ctx.progress(`building the OpenStack control-plane namespace (${o.netns}, ${o.address} on the fabric)`);
  await buildControlNamespace(state.plan, { netns: o.netns, address: o.address, port: 'os0' });
  ctx.progress('creating Neutron\'s database (SQLite, schema from its models)');
  await createNeutronSchema(labNeutronFiles(ctx.dir, state));
  ctx.progress('starting neutron-server with the margay mechanism driver (on the lab\'s etcd)');
  const server = await startOpenStackServer(ctx, state);
  const forward = await startNetnsForwarder({ role: 'neutron-forwarder', fileBase: 'forward', dir, netns: o.netns, address, port: o.apiPort });
  record(ctx, state, forward.record);
  const url = `http://127.0.0.1:${forward.port}`;
  const clouds = join(dir, 'clouds.yaml');
  writeFileSync(clouds, cloudsYaml(url));
  state.openstack = { url, fabricUrl: `http://${address}:${o.apiPort}`, forwardPort: forward.port, cloudsYaml: clouds };
  writeState(ctx.dir, state);
  await waitNeutronReady({ url, timeoutMs: NEUTRON_READY_MS, alive: () => isRunning(server), logFile: join(dir, 'neutron-server.log') });
}
