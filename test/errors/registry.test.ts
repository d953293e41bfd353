/**
 * The error registry and its documentation agree: every code in src/errors/codes.ts has a row in
 * docs/errors.md and every code the doc or the source names is registered. And the top floors
 * (cli, lab), whose errors reach people directly, throw MargayErrors: a plain `Error` there is
 * either a listed internal invariant or a test failure.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, test } from 'node:test';
import { ErrorCodes } from '../../src/errors/mod.ts';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const registered = new Set(Object.keys(ErrorCodes));

function sources(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    return statSync(path).isDirectory() ? sources(path) : path.endsWith('.ts') ? [path] : [];
  });
}

const codesIn = (text: string): Set<string> => new Set(text.match(/MARGAY_ERR_[A-Z_]+[A-Z]/g) ?? []);

describe('errors - registry', () => {
  test('docs/errors.md has one table row per registered code, and names no other', () => {
    const doc = readFileSync(join(root, 'docs', 'errors.md'), 'utf8');
    const rows = doc.split('\n').filter((l) => l.startsWith('| `MARGAY_ERR_')).map((l) => /`(MARGAY_ERR_[A-Z_]+)`/.exec(l)![1]!);
    assert.deepEqual([...rows].sort(), [...registered].sort());
    assert.deepEqual([...codesIn(doc)].filter((c) => !registered.has(c)), [], 'codes the doc names that are not registered');
  });

  test('every code the source names is registered', () => {
    const unknown = sources(join(root, 'src')).flatMap((f) => [...codesIn(readFileSync(f, 'utf8'))].filter((c) => !registered.has(c)).map((c) => `${relative(root, f)}: ${c}`));
    assert.deepEqual(unknown, []);
  });

  test('cli and lab throw no plain Error except their internal invariants', () => {
    // Each allowed one is a bug if it ever shows (the CLI prints it as "unexpected error").
    const allowed: [file: string, fragment: string][] = [
      ['src/lab/lab.ts', 'probe-client answered'], // the probe client broke its own protocol
      ['src/cli/commands/agent.ts', 'new Error(message, { cause: err })'], // an agent failure with no Margay cause
    ];
    const found = ['cli', 'lab'].flatMap((floor) =>
      sources(join(root, 'src', floor)).flatMap((f) =>
        readFileSync(f, 'utf8')
          .split('\n')
          .filter((l) => /new (Type|Range)?Error\(/.test(l))
          .map((l) => ({ file: relative(root, f), line: l.trim() })),
      ),
    );
    const unexpected = found.filter(({ file, line }) => !allowed.some(([f, fragment]) => f === file && line.includes(fragment)));
    assert.deepEqual(unexpected, []);
  });
});
