// The malloc control addon (native/malloc-control.c, built here into a temporary directory the way
// scripts/install-deps.sh builds it) and its loader: the addon loads and works; a missing or
// foreign file is an error for the log, never a throw; an empty path loads nothing.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { loadMallocControl, MALLOC_ADDON, MALLOC_THRESHOLD_BYTES } from '../../src/os/mod.ts';

const SOURCE = resolve(dirname(fileURLToPath(import.meta.url)), '../../native/malloc-control.c');

describe('malloc control', () => {
  let dir: string;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'margay-malloc-'));
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('loads the addon, which fixes the thresholds, trims and refuses bad sizes', () => {
    const addon = join(dir, MALLOC_ADDON);
    const include = resolve(process.execPath, '../../include/node');
    execFileSync('gcc', ['-O2', '-Wall', '-Wextra', '-Werror', '-shared', '-fPIC', `-I${include}`, '-o', addon, SOURCE]);
    const { control, error } = loadMallocControl(addon);
    assert.equal(error, undefined);
    assert.ok(control);
    const glibc = process.report.getReport() as { header?: { glibcVersionRuntime?: string } };
    const expected = glibc.header?.glibcVersionRuntime !== undefined;
    assert.equal(control.setThresholds(MALLOC_THRESHOLD_BYTES, MALLOC_THRESHOLD_BYTES), expected);
    assert.equal(typeof control.trim(), 'boolean');
    assert.throws(() => control.setThresholds(0, MALLOC_THRESHOLD_BYTES), /two byte counts/);
    assert.throws(() => control.setThresholds(MALLOC_THRESHOLD_BYTES, 2 ** 31), /two byte counts/);
    assert.throws(() => (control.setThresholds as (a?: number) => boolean)(), /two byte counts/);
  });

  it('reports a missing or foreign file instead of throwing, and loads nothing for an empty path', () => {
    const missing = loadMallocControl(join(dir, 'none.node'));
    assert.equal(missing.control, undefined);
    assert.match(missing.error ?? '', /none\.node/);
    const foreign = join(dir, 'foreign.node');
    writeFileSync(foreign, 'not a shared object');
    assert.match(loadMallocControl(foreign).error ?? '', /foreign\.node/);
    assert.deepEqual(loadMallocControl(''), {});
  });
});
