/**
 * Output to a closed pipe (`margay get ippools -o yaml | head -1`): the CLI as a real process
 * whose reader has gone away ends quietly, without an EPIPE stack trace.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { margayClosedStdout } from './helpers.ts';

const labDir = mkdtempSync(join(tmpdir(), 'margay-pipe-test-'));
after(() => rmSync(labDir, { recursive: true, force: true }));

describe('cli process - a closed pipe', () => {
  for (const [what, args, env] of [
    ['get -o yaml', ['get', 'ippools', '-o', 'yaml'], { DATASTORE_TYPE: 'memory' }],
    ['lab status', ['lab', 'status'], { MARGAY_LAB_DIR: labDir }],
    ['--help', ['--help'], {}],
  ] as const) {
    test(`${what}: standard output closed early ends quietly with 0`, async () => {
      const res = await margayClosedStdout([...args], env);
      assert.equal(res.stderr, '', 'nothing on stderr (no EPIPE stack trace)');
      assert.equal(res.code, 0);
    });
  }
});
