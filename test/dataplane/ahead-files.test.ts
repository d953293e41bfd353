// Load-ahead files an agent killed mid-load left behind (nftables/ahead-files.ts): the next load
// ahead removes those whose process is gone, and leaves its own, a live agent's, and anything else.
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { aheadPath, removeStaleAheadFiles } from '../../src/dataplane/nftables/ahead-files.ts';

const dir = mkdtempSync(join(tmpdir(), 'mg-ahead-files-'));
after(() => rmSync(dir, { recursive: true, force: true }));

describe('load-ahead files', () => {
  it('are named by this process and are new each time', () => {
    const a = aheadPath('nl');
    assert.match(a, new RegExp(`margay-ahead-${process.pid}-[0-9a-f]{16}\\.nl$`));
    assert.notEqual(aheadPath('nl'), a);
  });

  it("removes a dead process's files only", async () => {
    const names = [
      'margay-ahead-111-0123456789abcdef.nft', // dead
      'margay-ahead-222-0123456789abcdef.nl', // dead
      'margay-ahead-333-0123456789abcdef.nl', // alive
      `margay-ahead-${process.pid}-0123456789abcdef.nl`, // ours, in use
      'margay-ahead-444-notours.txt', // another name
      'unrelated.nl',
    ];
    for (const n of names) writeFileSync(join(dir, n), 'x');
    const removed = await removeStaleAheadFiles({ dir, exists: (pid) => pid === 333 });
    assert.equal(removed, 2);
    assert.deepEqual(readdirSync(dir).sort(), names.slice(2).sort());
  });

  it('never throws: a directory that cannot be read sweeps nothing', async () => {
    assert.equal(await removeStaleAheadFiles({ dir: join(dir, 'missing') }), 0);
  });
});
