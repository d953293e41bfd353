/**
 * `lab up --openstack` end to end: neutron-server with Margay's driver in its own namespace on the
 * lab's etcd, the `openstack` CLI through `margay lab openstack`, a port bound on a lab host (its
 * agent's Node exists) written as a WorkloadEndpoint and reported ACTIVE, a port on an unknown
 * host not bound, neutron-server killed with SIGKILL losing nothing, and `lab down` removing it.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { workloadEndpointKind } from '../../src/api/mod.ts';
import { listLabNetns } from '../../src/lab/fabric.ts';
import { labDown, labUp, withStore } from '../../src/lab/lab.ts';
import { NeutronApi } from '../../src/lab/openstack/neutron-api.ts';
import { startOpenStackServer } from '../../src/lab/openstack/up.ts';
import { isRunning, stopProcess } from '../../src/lab/processes.ts';
import type { LabState } from '../../src/lab/state.ts';
import { eventually } from '../harness/wait.ts';
import { REPO_ROOT } from '../agent/lab.ts';
import { useOpenStackLab } from './openstack-diagnostics.ts';

type Json = Record<string, any>;

const { ctx, passed } = useOpenStackLab('margay-lab-os-');

/** `margay lab openstack ARGS` (the CLI from the sources, on this test's lab folder). */
function labOpenstack(args: string[]): { status: number | null; stdout: string; stderr: string } {
  return spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/run.ts'), 'lab', 'openstack', '--', ...args], {
    cwd: REPO_ROOT, encoding: 'utf8', env: { ...process.env, MARGAY_LAB_DIR: ctx.dir }, timeout: 120_000,
  });
}

describe('lab up --openstack', () => {
  let state: LabState;
  let api: NeutronApi;
  let network: Json;

  test('starts neutron-server with the driver; the openstack CLI works against it', async () => {
    state = await labUp({ hosts: 2, router: false, ipv6: false, openstack: true }, ctx);
    assert.ok(state.openstack, 'the lab records its Neutron');
    assert.ok((await listLabNetns()).includes('mgl-openstack'));
    api = new NeutronApi({ url: state.openstack.url });
    const created = labOpenstack(['network', 'create', 'lab-net', '-f', 'value', '-c', 'id']);
    assert.equal(created.status, 0, created.stderr);
    network = await api.get<Json>('network', created.stdout.trim());
    const subnet = labOpenstack(['subnet', 'create', 'lab-subnet', '--network', 'lab-net', '--subnet-range', '10.85.0.0/24', '-f', 'value', '-c', 'cidr']);
    assert.equal(subnet.status, 0, subnet.stderr);
    assert.equal(subnet.stdout.trim(), '10.85.0.0/24');
  });

  test('binds a port on a lab host, writes its endpoint and reports it ACTIVE; refuses a host without an agent', async () => {
    const port = await api.create<Json>('port', { network_id: network.id, device_owner: 'compute:nova', device_id: 'vm-1', 'binding:host_id': 'host-2' });
    assert.equal(port['binding:vif_type'], 'tap');
    await eventually(async () => (await withStore(state, (s) => s.list(workloadEndpointKind, 'openstack'))).items.some((w) => (w.spec as Json).endpoint === port.id), { timeoutMs: 20_000, what: 'the endpoint' });
    await eventually(async () => (await api.get<Json>('port', port.id)).status === 'ACTIVE', { timeoutMs: 30_000, intervalMs: 200, what: 'the port ACTIVE' });
    const stray = await api.create<Json>('port', { network_id: network.id, device_owner: 'compute:nova', device_id: 'vm-2', 'binding:host_id': 'host-9' });
    assert.equal(stray['binding:vif_type'], 'binding_failed');
  });

  test('neutron-server killed with SIGKILL loses nothing; lab down removes it', async () => {
    const server = state.processes.find((p) => p.role === 'neutron-server')!;
    const ports = (await api.list<Json>('port')).map((p) => p.id).sort();
    process.kill(server.pid, 'SIGKILL');
    await eventually(() => !isRunning(server), { timeoutMs: 10_000, what: 'neutron-server gone' });
    assert.equal(await api.ping(), false);
    // What `lab up` started, started again by hand (the lab has no restart command for it).
    const again = await startOpenStackServer(ctx, state);
    assert.deepEqual((await api.list<Json>('port')).map((p) => p.id).sort(), ports);
    await stopProcess(again);
    await labDown(ctx);
    assert.ok(!(await listLabNetns()).includes('mgl-openstack'));
    passed();
  });
});
