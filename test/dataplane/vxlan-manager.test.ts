/**
 * The VXLAN manager over the driver, with a scripted runner: the plan it starts from (no VXLAN:
 * stale devices removed once), a changed plan programmed once, a resync re-reading the kernel,
 * a failure retried, and each warning told once.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { VxlanPlan } from '../../src/calc/model.ts';
import { noVxlanPlan } from '../../src/calc/vxlan-resolver.ts';
import { VxlanDriver } from '../../src/dataplane/vxlan/driver.ts';
import { VxlanManager } from '../../src/dataplane/vxlan/manager.ts';
import { fakeRunner, type Handler } from './fake-runner.ts';

function setup(handler: Handler = () => ({ code: 1, stderr: 'Device "vxlan.margay" does not exist.' })) {
  const { runner, calls } = fakeRunner((call) => (call.args.includes('route') ? { stdout: '[]' } : handler(call)));
  const warnings: string[] = [];
  const manager = new VxlanManager({ driver: new VxlanDriver({ runner }), warn: (w) => warnings.push(w) });
  return { manager, calls, warnings };
}

const waiting: VxlanPlan = { ...noVxlanPlan(), warnings: ['IPv4 VXLAN: node h1 has no VXLAN tunnel address and MAC yet; vxlan.margay not programmed'] };

describe('VXLAN manager', () => {
  it('starts from "no VXLAN" (stale devices go once), then programs only changed plans', async () => {
    const { manager, calls } = setup();
    manager.completeDeferredWork();
    const first = await manager.apply({ full: false });
    assert.deepEqual(first?.errors, []);
    assert.ok(calls.some((c) => c.args.join(' ') === '-j -d addr show dev vxlan.margay'), 'looked for a stale device');
    calls.length = 0;
    assert.equal(await manager.apply({ full: false }), undefined, 'nothing changed: nothing read');
    assert.equal(calls.length, 0);
    const resync = await manager.apply({ full: true });
    assert.equal(resync?.skipped, false, 'a resync reads the kernel again');
    assert.ok(calls.length > 0);
  });

  it('tells each warning once, and ignores other messages', async () => {
    const { manager, warnings } = setup();
    manager.onUpdate({ type: 'route-remove', dst: '10.0.0.0/26' });
    manager.onUpdate({ type: 'vxlan-update', plan: waiting });
    manager.completeDeferredWork();
    manager.onUpdate({ type: 'vxlan-update', plan: { ...waiting } });
    manager.completeDeferredWork();
    assert.deepEqual(warnings, waiting.warnings);
    assert.deepEqual(manager.plan, waiting);
  });

  it('retries a plan whose programming failed', async () => {
    let fail = true;
    const { manager } = setup((call) => (call.args[0] === '-j' && fail ? { code: 0, stdout: '[{"ifname":"vxlan.margay"}]' } : call.args[1] === 'del' ? { code: fail ? 2 : 0, stderr: 'RTNETLINK answers: Operation not permitted' } : { code: 1 }));
    const failed = await manager.apply({ full: false });
    assert.match(failed?.errors.join('\n') ?? '', /Operation not permitted/);
    fail = false;
    const retried = await manager.apply({ full: false });
    assert.ok(retried !== undefined, 'the failed plan is applied again without a new message');
  });
});
