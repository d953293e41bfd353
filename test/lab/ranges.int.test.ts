/**
 * `lab up` on a machine where every candidate range is taken: it refuses with the reason and
 * makes nothing. The "machine" is a throwaway namespace whose routes (blackholes: no device, no
 * traffic) cover every candidate of the fabric, and the CLI runs inside it as it would on a host.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, describe, test } from 'node:test';
import { listLabNetns } from '../../src/lab/fabric.ts';
import { useTestNetns } from '../harness/netns.ts';
import { assertOneLineError } from '../cli/helpers.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const labDir = mkdtempSync(join(tmpdir(), 'margay-lab-refusal-'));
after(() => rmSync(labDir, { recursive: true, force: true }));

describe('lab up - no free range', () => {
  const netns = useTestNetns(1);

  test('refused with the range and what is in the way; nothing is made', async () => {
    const machine = netns.all[0]!;
    for (const route of ['192.0.0.0/8', '198.0.0.0/8', '203.0.113.0/24']) await machine.exec('ip', ['route', 'add', 'blackhole', route]);
    const before = await listLabNetns();
    process.env.MARGAY_LAB_DIR = labDir; // the CLI below inherits it
    const res = await machine.exec(process.execPath, ['--import', 'tsx', join(root, 'src/cli/run.ts'), 'lab', 'up', '--hosts', '2'], {
      allowFail: true,
      timeoutMs: 60_000,
    });
    assertOneLineError(
      res,
      /^no free range for the lab's host fabric: every candidate overlaps an address or route of this machine \(192\.0\.2\.0\/24 overlaps blackhole route 192\.0\.0\.0\/8; .*; and 512 more candidate\(s\)\); the lab was not started$/,
    );
    assert.deepEqual(await listLabNetns(), before, 'no lab namespace made');
    assert.equal(existsSync(join(labDir, 'lab.json')), false, 'no lab state written');
  });
});
