/**
 * The dataplane's two resident programs on top of src/os/resident.ts: `ip -force -batch -` and
 * `nft -i` (its sentinel parser here; the real `nft -i` is exercised by the kernel tests).
 * Only read-only commands run here, in the caller's namespace.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNftSentinel } from '../../src/dataplane/nftables/session.ts';
import { IpSession } from '../../src/dataplane/routes/ip-session.ts';

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

  it('nft -i: the sentinel ends a transaction, and errors before it are the transaction\'s', () => {
    const token = 'margay_sentinel_1_7';
    const sentinel = `Error: syntax error, unexpected newline, expecting string\n${token}\n${' '.repeat(token.length)}^\n`;
    assert.deepEqual(parseNftSentinel(sentinel + 'next', token), { result: '', rest: 'next' });
    const rejected = 'Error: Could not process rule: No such file or directory\nadd rule inet t nosuch accept\n                ^^^^^^\n';
    assert.deepEqual(parseNftSentinel(rejected + sentinel, token), { result: rejected, rest: '' });
    assert.equal(parseNftSentinel(rejected + sentinel.slice(0, -3), token), undefined, 'the caret line is not complete yet');
  });
});
