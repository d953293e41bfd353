/**
 * The dataplane's two resident programs on top of src/os/resident.ts: `ip -force -batch -` and
 * `nft -i` (its sentinel parser here; the real `nft -i` is exercised by the kernel tests).
 * Only read-only commands run here, in the caller's namespace.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNftSentinel } from '../../src/dataplane/nftables/session.ts';
import { IpSession } from '../../src/dataplane/routes/ip-session.ts';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

describe('resident programs of the dataplane', () => {
  it('ip -force -batch: failures by line, counted across batches', async () => {
    const ip = new IpSession();
    try {
      const first = await ip.batch(['link show dev lo', 'link show dev mgnosuchif0', 'link show dev lo']);
      assert.deepEqual([...first], [[1, 'Device "mgnosuchif0" does not exist.']]);
      const second = await ip.batch(['link show dev mgnosuchif0', 'link show dev lo']);
      assert.deepEqual([...second.keys()], [0]);
      assert.deepEqual([...(await ip.batch([]))], []);
    } finally {
      ip.close();
    }
  });

  it("ip -force -batch: lines that met a stale interface index run again on a fresh ip (its name cache is gone)", async () => {
    // A stand-in for ip whose first process answers "No such device" for lines naming `stale`, as
    // ip does when it cached a name whose interface was deleted and made again behind its back.
    const dir = mkdtempSync(join(tmpdir(), 'margay-fake-ip-'));
    const fake = join(dir, 'ip');
    writeFileSync(
      fake,
      `#!/bin/bash\nn=0; first=0; [ -e ${dir}/mark ] || { first=1; touch ${dir}/mark; }\n` +
        `while IFS= read -r line; do n=$((n+1));\n` +
        `  if [ "$line" = "link show dev ." ]; then echo 'Cannot find device "."' >&2; echo "Command failed -:$n" >&2; continue; fi\n` +
        `  if [[ "$line" == *missing* ]] || { [ $first = 1 ] && [[ "$line" == *stale* ]]; }; then echo "RTNETLINK answers: No such device" >&2; echo "Command failed -:$n" >&2; fi\n` +
        `done\n`,
      { mode: 0o755 },
    );
    const ip = new IpSession({ ip: fake });
    try {
      const failed = await ip.batch(['link set ok up', 'link set stale up', 'route add 10.0.0.1/32 dev stale', 'link set missing up']);
      assert.deepEqual([...failed.keys()], [3], 'the stale lines succeeded on the fresh process; a really missing device still fails');
      assert.match(failed.get(3)!, /No such device/);
    } finally {
      ip.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('nft -i: the sentinel ends a transaction, and errors before it are the transaction\'s', () => {
    const token = 'margay_sentinel_1_7';
    const sentinel = `Error: syntax error, unexpected newline, expecting string\n${token}\n${' '.repeat(token.length)}^\n`;
    assert.deepEqual(parseNftSentinel(sentinel + 'next', token), { result: '', rest: 'next' });
    const rejected = 'Error: Could not process rule: No such file or directory\nadd rule inet t nosuch accept\n                ^^^^^^\n';
    assert.deepEqual(parseNftSentinel(rejected + sentinel, token), { result: rejected, rest: '' });
    assert.equal(parseNftSentinel(rejected + sentinel.slice(0, -3), token), undefined, 'the caret line is not complete yet');
  });
});
