#!/usr/bin/env node
// Runs the test suite with node's built-in runner (Node 20 has no --test globs, so we list files).
// Usage: node scripts/run-tests.mjs [unit|integration|all] [extra files...]
// Unit tests live beside integration tests; a file whose name ends in `.int.test.ts` needs real
// processes (etcd, namespaces) and runs serially after the unit tests.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function findTests(dir) {
  const out = [];
  for (const entry of readdirSync(dir)) {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) out.push(...findTests(path));
    else if (entry.endsWith('.test.ts')) out.push(path);
  }
  return out.sort();
}

const mode = process.argv[2] ?? 'all';
const all = findTests('test');
const unit = all.filter((f) => !f.endsWith('.int.test.ts'));
const integration = all.filter((f) => f.endsWith('.int.test.ts'));
const groups = [];
if (mode === 'unit' || mode === 'all') groups.push({ files: unit, concurrency: 2 });
if (mode === 'integration' || mode === 'all') groups.push({ files: integration, concurrency: 1 });
if (!['unit', 'integration', 'all'].includes(mode)) groups.push({ files: process.argv.slice(2), concurrency: 1 });

let failed = false;
for (const { files, concurrency } of groups) {
  if (files.length === 0) continue;
  const res = spawnSync(
    process.execPath,
    ['--import', 'tsx', '--test', `--test-concurrency=${concurrency}`, ...files],
    { stdio: 'inherit' },
  );
  if (res.status !== 0) failed = true;
}
process.exit(failed ? 1 : 0);
