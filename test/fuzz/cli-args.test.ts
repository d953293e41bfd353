/**
 * Fuzz: command lines. Random argument vectors over the datastore verbs, `ipam`, `policy`,
 * `validate`, `version` and help, built from real flags and kinds and hostile values, run through
 * the real CLI on the in-memory datastore. Every case ends cleanly, and a failed one changes
 * nothing. (`agent`, `controllers`, `node` and `lab` act on this machine and are left out.)
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import fc from 'fast-check';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { margay } from '../cli/helpers.ts';
import { dump } from '../datastore/faulty.ts';
import { hostileString, MANIFESTS, runs } from './arbitraries.ts';
import { assertCleanOutcome, Tally } from './checks.ts';

const dir = mkdtempSync(join(tmpdir(), 'margay-fuzz-args-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const MANIFEST = join(dir, 'ok.json');
writeFileSync(MANIFEST, JSON.stringify({ kind: 'List', items: MANIFESTS }));
const BROKEN = join(dir, 'broken.yaml');
writeFileSync(BROKEN, 'kind: IPPool\nmetadata: {name: [}\n');

const COMMANDS = [
  ['get'], ['apply'], ['create'], ['replace'], ['delete'], ['patch'], ['label'], ['validate'], ['version'],
  ['ipam', 'show'], ['ipam', 'check'], ['ipam', 'release'], ['ipam', 'configure'], ['ipam'],
  ['policy', 'trace'], ['policy', 'matrix'], ['policy'], ['help'], [], ['nope'],
];
const FLAGS = [
  '-f', '-o', '-n', '-A', '-R', '-l', '-p', '-c', '--help', '--overwrite', '--remove', '--skip-exists', '--skip-not-exists',
  '--from', '--to', '--port', '--protocol', '--src-port', '--endpoint', '--ip', '--force', '--show-blocks',
  '--strictaffinity', '--max-blocks-per-host', '--', '-', '--unknown',
];
const VALUES = [
  'ippool', 'ippools', 'pools', 'gnp', 'globalnetworkpolicy', 'networkpolicy', 'workloadendpoints', 'felixconfiguration', 'tier', 'IPPool',
  'pool-a', 'gnp-a', 'default', 'shop', 'yaml', 'json', 'wide', 'ps', 'custom-columns=NAME:.metadata.name', 'shop/pod1', '10.20.0.5',
  '80', '80/TCP', 'TCP', '0', '65536', 'true', 'false', 'app=web', 'app', '{"spec":{"disabled":true}}', '{"metadata":{"name":"x"}}', '[', 'null',
  MANIFEST, BROKEN, dir, '/dev/null', '/nonexistent/file.yaml',
];

const argv = fc
  .tuple(fc.constantFrom(...COMMANDS), fc.array(fc.oneof({ weight: 3, arbitrary: fc.constantFrom(...FLAGS) }, { weight: 4, arbitrary: fc.constantFrom(...VALUES) }, hostileString), { maxLength: 7 }))
  .map(([command, rest]) => [...command, ...rest.map((a) => a.replace(/\u0000/g, ''))]);

describe('fuzz - command lines', () => {
  it('every argument vector ends cleanly, and a failed one changes nothing (800 cases)', async () => {
    const ds = new MemoryDatastore();
    assert.equal((await margay(['apply', '-f', MANIFEST], { datastore: ds })).code, 0);
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(argv, async (args) => {
        const before = await dump(ds);
        const run = await margay(args, { datastore: ds });
        assertCleanOutcome(run, `margay ${JSON.stringify(args).slice(0, 400)}`);
        if (run.code !== 0) assert.equal(await dump(ds), before, `margay ${JSON.stringify(args)} failed, yet the datastore changed`);
        tally.add(run.code === 0 ? 'ok' : 'refused');
      }),
      runs(800),
    );
    console.log(`# command lines: ${tally.total} cases: ${tally}`);
  });
});
