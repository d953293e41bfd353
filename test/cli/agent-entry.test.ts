/**
 * The agent's own process entry (src/cli/agent-run.ts, bundled into dist/bundle/agent.cjs and
 * picked by bin/margay.js for `margay agent`): the same CLI frame with the agent command only.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { registerAgent } from '../../src/cli/commands/agent.ts';
import { runProgram } from '../../src/cli/program.ts';
import { agentNodeOptions } from '../../src/lab/entry.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

async function agentCli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  let stdout = '';
  let stderr = '';
  const code = await runProgram(registerAgent, args, { env: {}, stdout: (t) => (stdout += t), stderr: (t) => (stderr += t) });
  return { code, stdout, stderr };
}

test('the agent entry knows `agent` (with its options) and `version`, and no other command', async () => {
  const help = await agentCli(['agent', '--help']);
  assert.equal(help.code, 0);
  assert.match(help.stdout, /--netns <name>/);
  assert.match(help.stdout, /--cni-socket <path>/);
  const version = await agentCli(['version']);
  assert.equal(version.code, 0);
  assert.match(version.stdout, /^Client Version: +v/);
  const other = await agentCli(['get', 'ippools']);
  assert.equal(other.code, 1);
  assert.match(other.stderr, /unknown command 'get'/);
});

test('the agent entry runs as a process from the sources', () => {
  const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/cli/agent-run.ts', 'agent', '--help'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stdout, /Usage: margay agent/);
});

test('the agent bundle would hold no code of the lab, the UI, OpenStack or the Kubernetes controllers', () => {
  const res = spawnSync(process.execPath, ['scripts/bundle.mjs', '--check'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.equal(res.status, 0, res.stderr);
});

test('the built agent runs from its bundle and V8 takes the code cache under the `#!` line\'s Node options', () => {
  const build = spawnSync(process.execPath, ['scripts/bundle.mjs'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.equal(build.status, 0, build.stderr);
  // One character beyond ASCII would make V8 keep the 3.5 MB source two bytes per character.
  const nonAscii = /[^\x00-\x7f]/.exec(readFileSync(join(root, 'dist/bundle/agent.cjs'), 'utf8'));
  assert.equal(nonAscii, null, `the bundle is ASCII (found ${JSON.stringify(nonAscii?.[0])})`);
  const options = agentNodeOptions();
  const help = spawnSync(process.execPath, [...options, 'bin/margay.js', 'agent', '--help'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /Usage: margay agent/);
  const probe = "import('./bin/code-cache.js').then((m) => console.log(m.compileBundle(new URL('dist/bundle/agent.cjs', 'file://' + process.cwd() + '/'), new URL('dist/bundle/agent.cjs.cache', 'file://' + process.cwd() + '/')).cachedDataRejected))";
  const taken = spawnSync(process.execPath, [...options, '--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.equal(taken.stdout.trim(), 'false', taken.stderr);
  const other = spawnSync(process.execPath, ['--max-semi-space-size=7', '--input-type=module', '-e', probe], { cwd: root, encoding: 'utf8', timeout: 60_000 });
  assert.equal(other.stdout.trim(), 'true', 'V8 rejects a cache made under other options (then it compiles as usual)');
});

test('the build\'s code cache holds what the warm-up compiled: larger than one made by `agent --help` alone', () => {
  const build = spawnSync(process.execPath, ['scripts/bundle.mjs'], { cwd: root, encoding: 'utf8', timeout: 120_000 });
  assert.equal(build.status, 0, build.stderr);
  const dir = mkdtempSync(join(tmpdir(), 'margay-cache-'));
  try {
    const plain = join(dir, 'agent.cjs.cache');
    const make = `import('./bin/code-cache.js').then((m) => m.runBundle(new URL('dist/bundle/agent.cjs', 'file://' + process.cwd() + '/'), new URL('file://${plain}'), { writeCache: true }))`;
    const res = spawnSync(process.execPath, [...agentNodeOptions(), '--input-type=module', '-e', make, 'margay', 'agent', '--help'], { cwd: root, encoding: 'utf8', timeout: 60_000 });
    assert.equal(res.status, 0, res.stderr);
    const warm = statSync(join(root, 'dist/bundle/agent.cjs.cache')).size;
    const cold = statSync(plain).size;
    // ~2.1 MB against ~1.6 MB when written (the render, the graph, the encoders: ~0.5 MB of bytecode).
    assert.ok(warm > cold * 1.2, `the cache with the warm-up (${warm} bytes) is more than 1.2 times the one without (${cold} bytes)`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
