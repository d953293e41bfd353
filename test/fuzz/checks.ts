/**
 * What every fuzz case must show, whatever the input: no crash, a clean outcome (exit 0, or exit 1
 * with one line on stderr that names no "unexpected error", carries no stack trace and nothing a
 * terminal would act on), and, when a command failed, a datastore exactly as before.
 */
import assert from 'node:assert/strict';
import type { CliRun } from '../cli/helpers.ts';

/** Characters that must never reach a terminal raw (a final line break excepted). */
const RAW_CONTROL = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/;

/** Asserts a CLI run ended cleanly: 0, or 1 with one short, safe line on stderr. */
export function assertCleanOutcome(run: CliRun, what: string): void {
  assert.ok(run.code === 0 || run.code === 1, `${what}: exit ${run.code}`);
  for (const line of run.stderr.split('\n').filter((l) => l !== '')) {
    assert.doesNotMatch(line, RAW_CONTROL, `${what}: a raw control character on stderr: ${JSON.stringify(line.slice(0, 200))}`);
    assert.ok(line.length <= 2000, `${what}: a stderr line of ${line.length} characters`);
  }
  assert.doesNotMatch(run.stderr, /unexpected error|^\s+at .*\(.*:\d+:\d+\)/m, `${what}: ${run.stderr.slice(0, 500)}`);
  if (run.code === 1) {
    assert.equal(run.stderr.split('\n').filter((l) => l !== '' && !l.startsWith('Warning: ')).length, 1, `${what}: one error line: ${run.stderr.slice(0, 500)}`);
    assert.ok(run.stderr.endsWith('\n'), `${what}: the line ends`);
  }
}

/** Counts outcomes so a suite can report how many cases it ran and how they ended. */
export class Tally {
  readonly counts = new Map<string, number>();
  add(outcome: string): void {
    this.counts.set(outcome, (this.counts.get(outcome) ?? 0) + 1);
  }
  get total(): number {
    return [...this.counts.values()].reduce((a, b) => a + b, 0);
  }
  toString(): string {
    return [...this.counts].map(([k, n]) => `${n} ${k}`).join(', ');
  }
}
