/**
 * A CNI DEL whose helper cannot look the container's interface up (out of file descriptors, a
 * real limit on the real helper): the DEL fails, and nothing acts as if the interface were gone —
 * the veth stays and the addresses stay held (a new pod must not get an address that an interface
 * still routes). A DEL retried with a helper that has descriptors to spare then does it all.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { CLIENT, helperWithFdLimit, runPlugin } from './binary.ts';
import { startBed, type Bed } from './bed.ts';

let bed: Bed;
let dir: string;

before(async () => {
  bed = await startBed();
  dir = mkdtempSync(join(tmpdir(), 'margay-nofile-'));
});

after(async () => {
  await bed?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('cni DEL - a failed interface lookup is an error, not "gone"', () => {
  it('fails the DEL, keeps the veth and the addresses; a retried DEL with descriptors to spare completes it', async () => {
    const c = await bed.container();
    const env = (command: string) => ({ CNI_COMMAND: command, CNI_CONTAINERID: 'nofile-1', CNI_NETNS: `/run/netns/${c.name}`, CNI_IFNAME: 'eth0', CNI_PATH: bed.cniPath });
    const conf = JSON.stringify({ cniVersion: '1.0.0', name: 'mnet', type: 'margay', agent_socket: bed.socket });
    const add = await runPlugin(CLIENT, env('ADD'), conf);
    assert.equal(add.code, 0, add.stdout);
    const ip = ((add.json?.ips as { address: string }[])[0]!.address).replace(/\/32$/, '');
    const [hostVeth] = await bed.hostVeths();
    assert.ok(hostVeth);

    // The service again, its helpers limited to five descriptors: each lookup of an interface
    // finds no descriptor for its socket.
    const before = process.env.MARGAY_NETLINK_HELPER;
    await bed.stopCni();
    process.env.MARGAY_NETLINK_HELPER = helperWithFdLimit(dir, 5);
    try {
      await bed.startCni();
      const del = await runPlugin(CLIENT, env('DEL'), conf);
      assert.notEqual(del.code, 0, `the DEL must fail: ${del.stdout}`);
      assert.match(String(del.json?.msg) + String(del.json?.details), /interface lookup/, del.stdout);
      assert.deepEqual(await bed.hostVeths(), [hostVeth], 'the veth is not deleted');
      assert.deepEqual(await bed.ipam.ipsByHandle('mnet.nofile-1'), [ip], 'the addresses stay held');
    } finally {
      await bed.stopCni();
      if (before === undefined) delete process.env.MARGAY_NETLINK_HELPER;
      else process.env.MARGAY_NETLINK_HELPER = before;
      await bed.startCni();
    }

    const retried = await runPlugin(CLIENT, env('DEL'), conf);
    assert.equal(retried.code, 0, retried.stdout);
    assert.deepEqual(await bed.hostVeths(), []);
    assert.deepEqual(await bed.ipam.ipsByHandle('mnet.nofile-1'), []);
  });
});
