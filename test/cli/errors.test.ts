/**
 * Bad input as a new user types it, across the commands: every refusal is exit 1 and one line on
 * stderr naming the flag, file or variable and what is allowed; never "unexpected error", never a
 * stack trace; nothing written. In-process where the command allows it, as a real process where
 * the command reads the process's own environment (the agent) or the lab folder.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { assertOneLineError, margay, margayProcess } from './helpers.ts';

const dir = mkdtempSync(join(tmpdir(), 'margay-cli-errors-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function file(path: string, text: string): string {
  const full = join(dir, path);
  mkdirSync(join(full, '..'), { recursive: true });
  writeFileSync(full, text);
  return full;
}

const POOL = 'apiVersion: projectcalico.org/v3\nkind: IPPool\nmetadata:\n  name: p1\nspec:\n  cidr: 10.1.0.0/16\n';

const MODEL = file(
  'model.yaml',
  `apiVersion: v1
kind: Pod
metadata: {name: web, namespace: shop}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: api, namespace: shop}
spec: {containers: [{name: c}]}
`,
);

describe('cli errors - policy trace and matrix', () => {
  const trace = (...args: string[]) => margay(['policy', 'trace', '-f', MODEL, '--from', 'shop/web', '--to', 'shop/api', ...args]);

  test('--protocol must be a known name or a number 1-255', async () => {
    for (const p of ['foo', '300', '-1', '0']) {
      assertOneLineError(await trace('--port', '80', '--protocol', p), new RegExp(`^--protocol "${p}": expected TCP, UDP, SCTP, ICMP, ICMPv6, UDPLite or a protocol number 1-255$`));
    }
    assert.equal((await trace('--protocol', 'ICMP')).code, 0, 'a known name in any case');
    assert.equal((await trace('--protocol', '47')).code, 0, 'a protocol number');
  });

  test('an address that is not one names the flag', async () => {
    assertOneLineError(await margay(['policy', 'trace', '-f', MODEL, '--from', 'shop/web', '--to', '999.1.1.1', '--port', '80']), /^--to: "999\.1\.1\.1" is not a valid IP address$/);
    assertOneLineError(await margay(['policy', 'trace', '-f', MODEL, '--from', '1.2.3.4.5', '--to', 'shop/api', '--port', '80']), /^--from: "1\.2\.3\.4\.5" is not a valid IP address$/);
    assertOneLineError(await margay(['policy', 'matrix', '-f', MODEL, '--endpoint', 'fd00::zz']), /^--endpoint: /);
  });

  test('an unknown endpoint names the flag and the choices', async () => {
    assertOneLineError(await margay(['policy', 'trace', '-f', MODEL, '--from', 'shop/nope', '--to', 'shop/api', '--port', '80']), /^--from: no endpoint "shop\/nope" .*known: shop\/api, shop\/web/);
  });
});

describe('cli errors - manifests under -f DIR -R', () => {
  test('a symbolic link to nothing is named with its target, and nothing is written', async () => {
    const tree = join(dir, 'dangling');
    file('dangling/pool.yaml', POOL);
    symlinkSync('/nonexistent/policy.yaml', join(tree, 'gone.yaml'));
    const ds = new MemoryDatastore();
    assertOneLineError(await margay(['apply', '-f', tree, '-R'], { datastore: ds }), /dangling\/gone\.yaml: a symbolic link to "\/nonexistent\/policy\.yaml", which does not exist$/);
    assert.equal((await ds.list('/calico/')).items.length, 0, 'the valid pool was not written either');
  });

  test('a directory link back to an ancestor is a loop; without -R it is not read', async () => {
    const tree = join(dir, 'loop');
    file('loop/sub/pool.yaml', POOL);
    symlinkSync('..', join(tree, 'sub', 'up'));
    assertOneLineError(await margay(['validate', '-f', tree, '-R']), /loop\/sub\/up: a symbolic link loop \(it leads back to .*loop, which -R is already reading\)$/);
    const flat = await margay(['validate', '-f', tree]);
    assert.equal(flat.code, 0, flat.stderr);
  });

  test('a link to itself is a loop of symbolic links', async () => {
    const tree = join(dir, 'self');
    mkdirSync(tree);
    symlinkSync('me.yaml', join(tree, 'me.yaml'));
    assertOneLineError(await margay(['validate', '-f', tree]), /self\/me\.yaml: a loop of symbolic links$/);
  });
});

describe('cli errors - flags', () => {
  test('controllers: log level, zero interval and empty identity are refused before anything starts', async () => {
    const ds = new MemoryDatastore();
    assertOneLineError(await margay(['controllers', '--log-level', 'loud'], { datastore: ds }), /'loud' is invalid\. Allowed choices are debug, info, warn, error/);
    assertOneLineError(await margay(['controllers', '--interval', '0s'], { datastore: ds }), /^--interval: expected a duration of at least 1ms/);
    assertOneLineError(await margay(['controllers', '--identity', ' '], { datastore: ds }), /^--identity: expected a name/);
    assert.equal((await ds.list('/calico/')).items.length, 0, 'no leader key written');
  });

  test('lab: numbers and choices name the flag', async () => {
    assertOneLineError(await margay(['lab', 'up', '--hosts', '0']), /^--hosts "0": expected a whole number ≥ 1$/);
    assertOneLineError(await margay(['lab', 'up', '--etcd-members', 'three']), /^--etcd-members "three": expected a whole number ≥ 1$/);
    assertOneLineError(await margay(['lab', 'connectivity', '-o', 'xml']), /'xml' is invalid\. Allowed choices are table, json/);
    assertOneLineError(await margay(['lab', 'probe', 'a/b', 'c/d', '80/xyz']), /"80\/xyz" is not a port: use PORT\/PROTO/);
    // Pod names and labels are checked before the lab is asked (none is up here).
    assertOneLineError(await margay(['lab', 'pod', 'add', 'a/b/c', '--host', 'host-1']), /^pod "a\/b\/c": expected NAMESPACE\/NAME$/);
    assertOneLineError(await margay(['lab', 'pod', 'add', 'Shop/api', '--host', 'host-1']), /^pod "Shop\/api": namespace: must consist of lower case/);
    assertOneLineError(await margay(['lab', 'pod', 'add', 'shop/api', '--host', 'host-1', '--labels', 'app=a b']), /^--labels: label value "a b" is invalid/);
  });

  test('agent: a bad IP_AUTODETECTION_METHOD stops it before it starts', () => {
    const res = margayProcess(['agent', '--hostname', 'n1'], { env: { DATASTORE_TYPE: 'memory', IP_AUTODETECTION_METHOD: 'bogus' } });
    assertOneLineError(res, /^IP_AUTODETECTION_METHOD="bogus": not an IP autodetection method \(allowed: first-found, interface=REGEX/);
  });
});

describe('cli errors - state that cannot be read', () => {
  test('a damaged lab state names the file and the way out', () => {
    const labDir = join(dir, 'lab');
    file('lab/lab.json', '{"plan": ');
    const res = margayProcess(['lab', 'status'], { env: { MARGAY_LAB_DIR: labDir } });
    assertOneLineError(res, /lab\/lab\.json: .*JSON.*; `margay lab down` removes the lab and this file$/);
  });

  test('a stored value that is not JSON names its key', async () => {
    const ds = new MemoryDatastore();
    await ds.put('/calico/resources/v3/projectcalico.org/ippools/broken', 'not json');
    assertOneLineError(await margay(['get', 'ippools'], { datastore: ds }), /^\/calico\/resources\/v3\/projectcalico\.org\/ippools\/broken: the stored value is not valid JSON/);
  });
});

describe('cli - summaries', () => {
  test('create --skip-exists counts only what it created', async () => {
    const ds = new MemoryDatastore();
    const pool = file('skip/pool.yaml', POOL);
    assert.equal((await margay(['create', '-f', pool], { datastore: ds })).code, 0);
    const again = await margay(['create', '-f', pool, '--skip-exists'], { datastore: ds });
    assert.equal(again.code, 0, again.stderr);
    assert.equal(again.stdout, 'Skipped 1 resource(s) (already exist)\n');
  });
});

describe('cli errors - hostile values in messages (the one formatter)', () => {
  const pool = (meta: string) => `{"apiVersion":"projectcalico.org/v3","kind":"IPPool","metadata":${meta},"spec":{"cidr":"10.1.0.0/16"}}`;

  test('a name with a line break: the whole message on one line, the break shown as \\n', async () => {
    const run = await margay(['apply', '-f', file('nl.json', pool('{"name":"bad\\nname"}'))], { datastore: new MemoryDatastore() });
    assertOneLineError(run, /^.*nl\.json: document 1, line 1 IPPool "bad\\nname": metadata\.name: must consist of lower case alphanumeric characters/);
  });

  test('a 1 MB name: a short line that says how long the name was', async () => {
    const run = await margay(['validate', '-f', file('long.json', pool(`{"name":"${'n'.repeat(1 << 20)}"}`))]);
    assertOneLineError(run, /IPPool "n+…n+" \(1048576 characters\): metadata\.name: must be at most 253 characters$/);
    assert.ok(run.stderr.length < 2100, `${run.stderr.length} characters`);
  });

  test('an escape sequence in a label never reaches the terminal', async () => {
    const run = await margay(['validate', '-f', file('esc.json', pool('{"name":"p","labels":{"app":"\\u001b[31mred\\u009b"}}'))]);
    assertOneLineError(run, /label value "\\u001b\[31mred\\u009b" is invalid/);
    assert.doesNotMatch(run.stderr, /[\u001b\u009b]/);
  });
});

describe('cli errors - input larger than the limit', () => {
  test('a device that never ends is refused after 64 MiB, not read to exhaustion', async () => {
    assertOneLineError(await margay(['validate', '-f', '/dev/zero']), /^\/dev\/zero: the input is larger than 67108864 bytes \(all -f inputs together\)$/);
  });
});
