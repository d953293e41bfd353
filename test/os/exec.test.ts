/** Running programs without a shell: output, exit codes, typed errors, timeouts, namespaces. */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { createRunner, exec, ExecError } from '../../src/os/mod.ts';

describe('os exec', () => {
  it('runs without a shell, feeds stdin and returns output', async () => {
    const res = await exec(process.execPath, ['-e', 'process.stdin.pipe(process.stdout)'], { input: 'hello; $(rm -rf /)' });
    assert.equal(res.stdout, 'hello; $(rm -rf /)');
    assert.equal(res.code, 0);
  });

  it('throws a typed error with the exit code and stderr', async () => {
    const err = await exec(process.execPath, ['-e', 'process.stderr.write("boom"); process.exit(3)']).catch((e: unknown) => e);
    assert.ok(err instanceof ExecError);
    assert.equal(err.exitCode, 3);
    assert.equal(err.stderr, 'boom');
    assert.match(err.message, /exited with code 3: boom/);
    const allowed = await exec(process.execPath, ['-e', 'process.exit(4)'], { allowFail: true });
    assert.equal(allowed.code, 4);
  });

  it('times out and reports a missing program', async () => {
    const slow = await exec(process.execPath, ['-e', 'setTimeout(() => {}, 10000)'], { timeoutMs: 100 }).catch((e: unknown) => e);
    assert.ok(slow instanceof ExecError && slow.timedOut && slow.exitCode === null);
    const missing = await exec('/nonexistent/margay-program', []).catch((e: unknown) => e);
    assert.ok(missing instanceof ExecError && missing.exitCode === null);
    assert.match(missing.message, /could not be started/);
  });

  it('targets a namespace through ip netns exec', async () => {
    const err = await createRunner({ netns: 'margay-no-such-ns' })('nft', ['list', 'ruleset']).catch((e: unknown) => e);
    assert.ok(err instanceof ExecError);
    assert.equal(err.cmd, 'ip');
    assert.deepEqual(err.args.slice(0, 4), ['netns', 'exec', 'margay-no-such-ns', 'nft']);
  });
});
