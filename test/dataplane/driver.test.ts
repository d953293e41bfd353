// The nftables driver over a runner that plays the kernel: what it keeps as its view of the table.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NftablesDriver } from '../../src/dataplane/nftables/driver.ts';
import type { KernelTable } from '../../src/dataplane/nftables/kernel.ts';
import { DesiredState } from '../../src/dataplane/nftables/state.ts';
import type { CommandRunner } from '../../src/os/mod.ts';

/** A kernel whose table holds one plain set with 10.0.0.1; records the transactions it is given. */
function kernel(): { runner: CommandRunner; transactions: string[] } {
  const listing = JSON.stringify({
    nftables: [
      { table: { family: 'inet', name: 'margay' } },
      { set: { family: 'inet', table: 'margay', name: 'v4-s.p', type: 'ipv4_addr', elem: ['10.0.0.1'] } },
    ],
  });
  const transactions: string[] = [];
  const runner: CommandRunner = async (_cmd, args, options) => {
    if (args.includes('list')) return { code: 0, stdout: listing, stderr: '' };
    transactions.push(String(options?.input ?? ''));
    return { code: 0, stdout: '', stderr: '' };
  };
  return { runner, transactions };
}

describe('nftables driver - the view of the kernel', () => {
  it('takes the desired sets when a full read finds nothing to do, and diffs the next change against them', async () => {
    const { runner, transactions } = kernel();
    const driver = new NftablesDriver(runner);
    const d = new DesiredState();
    d.setSet({ name: 'v4-s.p', type: 'ipv4_addr', flags: [], elements: new Set(['10.0.0.1/32']) });
    const first = await driver.apply(d, d.takeDirty(), { full: true });
    assert.equal(first.commands, 0);
    assert.equal(transactions.length, 0);
    const view = (driver as unknown as { view: KernelTable }).view;
    assert.equal(view.sets.get('v4-s.p')!.elements, d.sets.get('v4-s.p')!.elements, 'shared, not a parsed copy');

    d.setSet({ name: 'v4-s.p', type: 'ipv4_addr', flags: [], elements: new Set(['10.0.0.1/32', '10.0.0.2/32']) });
    const second = await driver.apply(d, d.takeDirty());
    assert.equal(second.applied, true);
    assert.deepEqual(transactions, ['add element inet margay v4-s.p { 10.0.0.2 }\n']);
  });
});
