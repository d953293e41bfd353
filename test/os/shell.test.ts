/**
 * The resident helpers the dataplane and the CNI plumbing run commands through: the shell pool
 * (shell.ts) and resident line-oriented programs (resident.ts); their two uses, `nft -i` and
 * `ip -force -batch -`, are tested in test/dataplane/sessions.test.ts.
 * Only read-only commands run here, in the caller's namespace.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { describe, it } from 'node:test';
import { ExecError, ResidentProcess, ShellPool, sysctlScript } from '../../src/os/mod.ts';

describe('shell pool', () => {
  it('runs a command with its own stdout, stderr, exit code and input, quoting every word', async () => {
    const pool = new ShellPool({ size: 2 });
    try {
      assert.deepEqual(await pool.exec('sh', ['-c', 'echo out; echo err >&2; exit 3'], { allowFail: true }), { code: 3, stdout: 'out\n', stderr: 'err\n' });
      const tricky = "a'b $(rm -rf /)\n__MARGAY_EOF__\nno newline at the end";
      assert.equal((await pool.exec('cat', [], { input: tricky })).stdout, tricky);
      assert.equal((await pool.exec('printf', ['%s|', "it's", '$HOME', '*'])).stdout, "it's|$HOME|*|");
      const big = 'x'.repeat(3_000_000) + '\n';
      assert.equal((await pool.exec('cat', [], { input: big })).stdout.length, big.length);
      // Without input a command reads /dev/null, never the shell's own script stream.
      assert.equal((await pool.exec('cat', [])).stdout, '');
    } finally {
      pool.close();
    }
  });

  it('reports failures and timeouts as ExecError, and replaces a killed shell', async () => {
    const pool = new ShellPool({ size: 1 });
    try {
      const failed = await pool.exec('sh', ['-c', 'echo boom >&2; exit 4']).catch((e: unknown) => e);
      assert.ok(failed instanceof ExecError);
      assert.equal(failed.exitCode, 4);
      assert.match(failed.message, /exited with code 4: boom/);
      const slow = await pool.exec('sleep', ['10'], { timeoutMs: 200 }).catch((e: unknown) => e);
      assert.ok(slow instanceof ExecError && slow.timedOut, String(slow));
      assert.equal((await pool.exec('echo', ['still here'])).stdout, 'still here\n');
      const missing = await pool.exec('/nonexistent/margay-program', [], { allowFail: true });
      assert.equal(missing.code, 127);
    } finally {
      pool.close();
    }
  });

  it('runs scripts under set -e with standard error merged', async () => {
    const pool = new ShellPool();
    try {
      assert.deepEqual(await pool.run('echo a; echo b >&2; false; echo never'), { code: 1, output: 'a\nb\n' });
    } finally {
      pool.close();
    }
  });

  it('writes sysctls that differ, with quoted paths, and refuses paths that climb', () => {
    assert.equal(
      sysctlScript([['net/ipv4/conf/cali.1/proxy_arp', '1']]),
      `__v=; read -r __v < '/proc/sys/net/ipv4/conf/cali.1/proxy_arp' 2>/dev/null || :; [ "$__v" = '1' ] || printf %s '1' > '/proc/sys/net/ipv4/conf/cali.1/proxy_arp'`,
    );
    assert.throws(() => sysctlScript([['net/../../etc/passwd', '1']]), /not valid/);
    assert.throws(() => sysctlScript([['net//x', '1']]), /not valid/);
  });

  it('idle shells, warmed ones too, do not keep Node running', () => {
    const script = `import { ShellPool } from ${JSON.stringify(new URL('../../src/os/shell.ts', import.meta.url).pathname)};
const pool = new ShellPool();
pool.warm();
const r = await pool.exec('echo', ['ok']);
process.stdout.write(r.stdout);`;
    const res = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { encoding: 'utf8', timeout: 20_000 });
    assert.equal(res.status, 0, res.stderr);
    assert.equal(res.stdout, 'ok\n');
  });
});

describe('resident programs', () => {
  it('runs jobs in order, and after a timeout starts a new process', async () => {
    const sh = new ResidentProcess({ argv: ['sh'] });
    const job = (text: string) => () => ({
      input: `echo ${text} >&2\n`,
      parse: (s: string) => (s.includes(`${text}\n`) ? { result: s.slice(0, s.indexOf(`${text}\n`)), rest: s.slice(s.indexOf(`${text}\n`) + text.length + 1) } : undefined),
    });
    try {
      assert.deepEqual(await Promise.all([sh.run(job('one'), 5000), sh.run(job('two'), 5000)]), ['', '']);
      await assert.rejects(sh.run(() => ({ input: 'sleep 10\n', parse: () => undefined }), 200), /no answer within 200 ms/);
      assert.equal(await sh.run(job('three'), 5000), '');
    } finally {
      sh.close();
    }
    await assert.rejects(sh.run(job('four'), 1000), /closed/);
  });
});

describe('warming ahead of the first job', () => {
  it('a shell pool starts its shells, and the first jobs run on them', async () => {
    const pool = new ShellPool({ size: 2 });
    try {
      assert.equal(pool.running, 0);
      pool.warm();
      assert.equal(pool.running, 2);
      pool.warm(); // no more than its size
      assert.equal(pool.running, 2);
      const [a, b] = await Promise.all([pool.exec('sh', ['-c', 'echo $PPID']), pool.exec('sh', ['-c', 'echo $PPID'])]);
      assert.notEqual(a.stdout, b.stdout, 'each job on its own shell');
      assert.equal(pool.running, 2, 'the jobs ran on the warmed shells');
    } finally {
      pool.close();
    }
    pool.warm(); // closed: nothing
    assert.equal(pool.running, 0);
  });

  it('a resident program starts its process, and its first job runs on it', async () => {
    const sh = new ResidentProcess({ argv: ['sh'] });
    try {
      assert.equal(sh.pid, undefined);
      sh.warm();
      const pid = sh.pid;
      assert.ok(pid !== undefined && pid > 0);
      sh.warm(); // running: the same process
      assert.equal(sh.pid, pid);
      const own = await sh.run(() => ({ input: 'echo $$ >&2\n', parse: (s: string) => (s.includes('\n') ? { result: s.trim(), rest: '' } : undefined) }), 5000);
      assert.equal(own, String(pid));
    } finally {
      sh.close();
    }
    sh.warm(); // closed: nothing
    assert.equal(sh.pid, undefined);
  });
});
