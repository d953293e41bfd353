import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { etcdctl, startEtcd, startEtcdCluster } from './etcd.ts';

const here = new URL('.', import.meta.url).pathname;

/** True when `pid` runs (a zombie, killed but not yet reaped by its new parent, counts as dead). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
}

describe('test harness - etcd', () => {
  it('starts, restarts on the same data and port, and destroys by PID', { timeout: 60_000 }, async () => {
    const etcd = await startEtcd();
    try {
      const pid = etcd.pid!;
      assert.ok(alive(pid));
      assert.match(etcd.endpoints[0]!, /^http:\/\/127\.0\.0\.1:\d+$/);
      etcdctl(etcd.endpoints, ['put', '/harness/k', 'v']);
      await etcd.kill();
      assert.equal(etcd.running, false);
      assert.ok(!alive(pid));
      await etcd.restart();
      assert.notEqual(etcd.pid, pid);
      assert.equal(etcdctl(etcd.endpoints, ['get', '--print-value-only', '/harness/k']).trim(), 'v');
      await etcd.stop();
      await etcd.restart();
      assert.equal(etcdctl(etcd.endpoints, ['get', '--print-value-only', '/harness/k']).trim(), 'v');
    } finally {
      const pid = etcd.pid!;
      await etcd.destroy();
      await etcd.destroy();
      assert.ok(!alive(pid));
      assert.ok(!existsSync(etcd.baseDir));
    }
  });

  it('runs a 3-member cluster that survives losing one member', { timeout: 90_000 }, async () => {
    const cluster = await startEtcdCluster(3);
    const ds = new EtcdDatastore({ endpoints: cluster.endpoints, dialTimeoutMs: 3000 });
    try {
      assert.equal(cluster.members.length, 3);
      const members = etcdctl([cluster.endpoints[0]!], ['member', 'list']);
      assert.equal(members.trim().split('\n').length, 3);
      etcdctl([cluster.endpoints[0]!], ['put', '/cluster/k', 'v1']);
      assert.equal(etcdctl([cluster.endpoints[2]!], ['get', '--print-value-only', '/cluster/k']).trim(), 'v1');
      await cluster.members[0]!.kill();
      let ok = false;
      for (let i = 0; i < 20 && !ok; i++) {
        try {
          await ds.put('/cluster/k', 'v2');
          ok = true;
        } catch {
          await new Promise((r) => setTimeout(r, 500));
        }
      }
      assert.ok(ok, 'the two remaining members accept writes');
      await cluster.members[0]!.restart();
      assert.equal(etcdctl([cluster.endpoints[0]!], ['get', '--print-value-only', '/cluster/k']).trim(), 'v2');
    } finally {
      await ds.close();
      const pids = cluster.members.map((m) => m.pid).filter((p): p is number => p !== undefined);
      await cluster.destroy();
      for (const pid of pids) assert.ok(!alive(pid));
      assert.ok(!existsSync(cluster.baseDir));
    }
  });

  it('a test process that crashes still stops its etcd and removes its folder', { timeout: 60_000 }, () => {
    const dir = mkdtempSync(join(tmpdir(), 'margay-etcd-crash-'));
    try {
      const script = join(dir, 'crash.mts');
      writeFileSync(
        script,
        `import { startEtcd } from ${JSON.stringify(join(here, 'etcd.ts'))};\n` +
          `const etcd = await startEtcd();\nconsole.log(JSON.stringify({ pid: etcd.pid, baseDir: etcd.baseDir }));\n` +
          `throw new Error('boom');\n`,
      );
      const res = spawnSync(process.execPath, ['--import', 'tsx', script], { encoding: 'utf8', cwd: join(here, '..', '..') });
      assert.notEqual(res.status, 0);
      const { pid, baseDir } = JSON.parse(res.stdout.trim()) as { pid: number; baseDir: string };
      assert.ok(pid > 0, res.stderr);
      assert.ok(!alive(pid), 'etcd was killed by PID');
      assert.ok(!existsSync(baseDir), 'its folder was removed');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
