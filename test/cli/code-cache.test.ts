/**
 * bin/code-cache.js `runBundle` with a warm-up (what scripts/bundle.mjs runs to write the agent's
 * code cache): the cache is written after the bundle's `warmUp()` has finished, and not at all,
 * with the process failing and saying why, when the warm-up fails, never finishes, or sets a V8 flag.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { test } from 'node:test';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** Runs a one-function bundle whose exported `warmUp` has `body`, with a cache to write; the cache's size (0: none) and the process's outcome. */
function withWarmUp(body: string): { status: number | null; stderr: string; cacheBytes: number } {
  const dir = mkdtempSync(join(tmpdir(), 'margay-code-cache-'));
  try {
    const bundle = join(dir, 'bundle.cjs');
    const cache = join(dir, 'bundle.cjs.cache');
    writeFileSync(bundle, `(function (exports, require, module) { 'use strict'; const later = (x) => x + 1; exports.warmUp = async () => { ${body} }; })`);
    const run = `import(${JSON.stringify(pathToFileURL(join(root, 'bin/code-cache.js')).href)}).then((m) => m.runBundle(new URL(${JSON.stringify(pathToFileURL(bundle).href)}), new URL(${JSON.stringify(pathToFileURL(cache).href)}), { writeCache: true, warmUp: true }))`;
    const res = spawnSync(process.execPath, ['--input-type=module', '-e', run], { encoding: 'utf8', timeout: 60_000 });
    return { status: res.status, stderr: res.stderr, cacheBytes: existsSync(cache) ? statSync(cache).size : 0 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

test('the cache is written once the warm-up has finished', () => {
  const res = withWarmUp('await new Promise((r) => setTimeout(r, 10)); later(1);');
  assert.equal(res.status, 0, res.stderr);
  assert.ok(res.cacheBytes > 0);
});

test('a warm-up that fails writes no cache and fails the process, saying why', () => {
  const res = withWarmUp("throw new Error('render broke');");
  assert.equal(res.status, 1);
  assert.equal(res.cacheBytes, 0);
  assert.match(res.stderr, /code cache not written: the warm-up failed: Error: render broke/);
});

test('a warm-up that never finishes writes no cache and fails the process', () => {
  const res = withWarmUp('await new Promise(() => {});');
  assert.equal(res.status, 1);
  assert.equal(res.cacheBytes, 0);
  assert.match(res.stderr, /the warm-up failed: it waits for something that never comes/);
});

test('a warm-up that sets a V8 flag writes no cache (every start would reject it)', () => {
  const res = withWarmUp("require('node:v8').setFlagsFromString('--expose-gc');");
  assert.equal(res.status, 1);
  assert.equal(res.cacheBytes, 0);
  assert.match(res.stderr, /changed V8's flags/);
});
