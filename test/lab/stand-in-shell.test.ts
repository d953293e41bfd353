/**
 * A stand-in's shell has the VM image's applets: the probes `lab vm connectivity` and the e2e tests
 * send (`nc`, see httpGet) must run in a stand-in exactly as in a VM. With the machine's `sh` they
 * were looked up in its PATH, where `nc` does not exist here: every probe from a stand-in failed
 * (exit 127) and read as "denied" (issue 16).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { exec } from '../../src/os/mod.ts';
import { standInShell } from '../../src/lab/vm/vms.ts';
import { httpGet } from '../../src/lab/vm/connectivity.ts';

test('a stand-in shell finds every command of an HTTP probe (busybox applets, as in the VM)', async () => {
  // The commands httpGet runs, each resolved by the stand-in's shell (nothing is connected to).
  const probe = httpGet('192.0.2.1');
  for (const cmd of ['printf', 'nc', 'tail', 'echo']) {
    assert.ok(probe.includes(cmd), `httpGet uses ${cmd}`);
    const shell = standInShell(`command -v ${cmd}`);
    const res = await exec(shell.cmd, shell.args, { allowFail: true });
    assert.equal(res.code, 0, `${cmd} is found by the stand-in's shell: ${res.stdout}${res.stderr}`);
  }
});
