/**
 * A `lab up` killed midway, for the suites that prove `lab down` cleans up after a crash: runs
 * the CLI in a child process, SIGKILLs it once its progress shows `marker`, and returns the state
 * it left behind.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { type LabState, readState } from '../../src/lab/state.ts';
import { eventually } from '../harness/wait.ts';

/** Runs `margay lab up ARGS` in `dir`, kills it when its progress includes `marker`; returns the state left. */
export async function killedLabUp(dir: string, args: string[], marker: string, timeoutMs = 120_000): Promise<LabState> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/cli/run.ts', 'lab', 'up', ...args], {
    env: { ...process.env, MARGAY_LAB_DIR: dir },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let progress = '';
  child.stderr!.on('data', (d) => (progress += d.toString()));
  await eventually(() => progress.includes(marker), { what: `lab up to reach "${marker}"`, timeoutMs, intervalMs: 100 });
  child.kill('SIGKILL');
  await new Promise((resolve) => child.once('exit', resolve));
  const state = readState(dir);
  assert.ok(state, 'the killed lab up left its state behind');
  return state;
}
