import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createTestNetns, netnsExists, run, vethPair, type TestNetns } from './netns.ts';

const here = new URL('.', import.meta.url).pathname;

describe('test harness - network namespaces', () => {
  const made: TestNetns[] = [];
  after(async () => {
    for (const ns of made) await ns.delete();
  });

  it('links two namespaces by veth, pings across, and removes them', async () => {
    const rootLinksBefore = (await run('ip', ['-o', 'link', 'show'])).stdout;
    const rootAddrsBefore = (await run('ip', ['-o', 'addr', 'show'])).stdout;
    const rootRoutesBefore = (await run('ip', ['route', 'show', 'table', 'all'])).stdout;
    const a = await createTestNetns();
    const b = await createTestNetns();
    made.push(a, b);
    assert.match(a.name, new RegExp(`^mgt-${process.pid}-\\d+$`));
    assert.ok(netnsExists(a.name) && netnsExists(b.name));
    const { nameA, nameB } = await vethPair(a, b, { addressA: '192.0.2.1/24', addressB: '192.0.2.2/24' });
    const ping = await a.exec('ping', ['-c1', '-W1', '192.0.2.2']);
    assert.match(ping.stdout, /1 received/);
    const back = await b.exec('ping', ['-c1', '-W1', '192.0.2.1']);
    assert.match(back.stdout, /1 received/);
    const miss = await a.exec('ping', ['-c1', '-W1', '192.0.2.3'], { allowFail: true });
    assert.notEqual(miss.code, 0);
    assert.match((await a.exec('ip', ['-o', 'link', 'show', nameA])).stdout, new RegExp(nameA));
    assert.match((await b.exec('ip', ['-o', 'addr', 'show', nameB])).stdout, /192\.0\.2\.2\/24/);

    assert.equal((await run('ip', ['-o', 'link', 'show'])).stdout, rootLinksBefore, 'root links untouched');
    assert.equal((await run('ip', ['-o', 'addr', 'show'])).stdout, rootAddrsBefore, 'root addresses untouched');
    assert.equal((await run('ip', ['route', 'show', 'table', 'all'])).stdout, rootRoutesBefore, 'root routes untouched');

    const sleeper = a.spawn('sleep', ['600']);
    await a.delete();
    await b.delete();
    await a.delete(); // idempotent
    assert.ok(!netnsExists(a.name) && !netnsExists(b.name));
    const list = (await run('ip', ['netns', 'list'])).stdout;
    assert.ok(!list.includes(a.name) && !list.includes(b.name));
    await new Promise((resolve) => (sleeper.exitCode !== null || sleeper.signalCode !== null ? resolve(null) : sleeper.once('exit', resolve)));
    assert.equal(sleeper.signalCode, 'SIGKILL');
  });

  it('exec reports failures with the command and stderr', async () => {
    const ns = await createTestNetns();
    made.push(ns);
    await assert.rejects(ns.exec('ip', ['link', 'show', 'nonexistent0']), /ip link show nonexistent0 failed.*nonexistent0/);
    await ns.delete();
  });

  it('a test process that crashes still removes its namespaces', () => {
    const dir = mkdtempSync(join(tmpdir(), 'margay-netns-crash-'));
    try {
      const script = join(dir, 'crash.mts');
      writeFileSync(
        script,
        `import { createTestNetns } from ${JSON.stringify(join(here, 'netns.ts'))};\n` +
          `const ns = await createTestNetns('mgtcrash');\nconsole.log(ns.name);\nthrow new Error('boom');\n`,
      );
      const res = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', cwd: join(here, '..', '..') });
      assert.notEqual(res.status, 0, 'the child failed');
      const name = res.stdout.trim();
      assert.match(name, /^mgtcrash-\d+-0$/, res.stderr);
      assert.ok(!netnsExists(name), `namespace ${name} was removed by the exit hook`);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
