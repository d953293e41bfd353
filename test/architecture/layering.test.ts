/**
 * The floors of docs/design.md §4, kept by a test: every import between folders of src/ goes to the
 * same floor or one below (never up), and the folders' import graph has no cycle. The floors are read
 * from the ```floors block of docs/design.md, so the document and the test cannot drift apart.
 */
import assert from 'node:assert/strict';
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { test } from 'node:test';

const repo = resolve(import.meta.dirname, '../..');
const srcRoot = join(repo, 'src');

interface FolderImport {
  readonly file: string;
  readonly from: string;
  readonly to: string;
  readonly target: string;
}

/** Floor name → folders, bottom floor first, from the design document's fenced `floors` block. */
function readFloors(): Map<string, number> {
  const design = readFileSync(join(repo, 'docs/design.md'), 'utf8');
  const block = /```floors\n([\s\S]*?)```/.exec(design);
  assert.ok(block, 'docs/design.md has a ```floors block');
  const rank = new Map<string, number>();
  const lines = block[1]!.split('\n').filter((l) => l.trim() !== '');
  // The block lists the top floor first, as a building is drawn.
  lines.reverse().forEach((line, floor) => {
    const [, ...folders] = line.trim().split(/\s+/);
    for (const folder of folders) rank.set(folder.replace(/\/$/, ''), floor);
  });
  return rank;
}

function sourceFiles(dir: string): string[] {
  return readdirSync(dir).flatMap((entry) => {
    const path = join(dir, entry);
    if (statSync(path).isDirectory()) return sourceFiles(path);
    return path.endsWith('.ts') ? [path] : [];
  });
}

/** The folder of src/ a path belongs to (`mod.ts` and `version.ts` at the top are their own). */
function folderOf(path: string): string {
  return relative(srcRoot, path).split('/')[0]!.replace(/\.ts$/, '');
}

function folderImports(): FolderImport[] {
  const out: FolderImport[] = [];
  for (const file of sourceFiles(srcRoot)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^;]*?\bfrom\s+'(\.[^']+)'/g)) {
      const target = resolve(dirname(file), m[1]!);
      const from = folderOf(file);
      const to = folderOf(target);
      if (from !== to) out.push({ file: relative(repo, file), from, to, target: relative(repo, target) });
    }
  }
  return out;
}

const floors = readFloors();
const imports = folderImports();

test('layering - every folder of src/ is on a floor of docs/design.md', () => {
  const folders = new Set(sourceFiles(srcRoot).map(folderOf));
  const unplaced = [...folders].filter((f) => !floors.has(f) && f !== 'mod');
  assert.deepEqual(unplaced, [], 'folders missing from the ```floors block of docs/design.md');
});

test('layering - no import runs up a floor', () => {
  const upward = imports
    .filter((i) => i.from !== 'mod' && (floors.get(i.to) ?? Infinity) > (floors.get(i.from) ?? -1))
    .map((i) => `${i.file} imports ${i.target} (${i.from} is below ${i.to})`);
  assert.deepEqual(upward, []);
});

test('layering - no cycle between folders', () => {
  const edges = new Map<string, Set<string>>();
  for (const i of imports) {
    if (!edges.has(i.from)) edges.set(i.from, new Set());
    edges.get(i.from)!.add(i.to);
  }
  const cycles: string[] = [];
  const state = new Map<string, 'open' | 'done'>();
  const visit = (node: string, path: string[]): void => {
    if (state.get(node) === 'done') return;
    if (state.get(node) === 'open') {
      cycles.push([...path.slice(path.indexOf(node)), node].join(' -> '));
      return;
    }
    state.set(node, 'open');
    for (const next of edges.get(node) ?? []) visit(next, [...path, node]);
    state.set(node, 'done');
  };
  for (const node of edges.keys()) visit(node, []);
  assert.deepEqual(cycles, []);
});

test('layering - other folders enter a folder through its mod.ts', () => {
  const bypassing = imports
    .filter((i) => i.from !== 'mod' && !i.target.endsWith('/mod.ts') && !i.target.endsWith('version.ts'))
    .map((i) => `${i.file} imports ${i.target}`);
  assert.deepEqual(bypassing, []);
});

test('layering - a file never imports its own folder through the barrel', () => {
  const selfBarrel = sourceFiles(srcRoot).flatMap((file) => {
    const text = readFileSync(file, 'utf8');
    return [...text.matchAll(/\bfrom\s+'(\.[^']+)'/g)]
      .map((m) => resolve(dirname(file), m[1]!))
      .filter((target) => target === join(dirname(file), 'mod.ts') && target !== file)
      .map((target) => `${relative(repo, file)} imports ${relative(repo, target)}`);
  });
  assert.deepEqual(selfBarrel, []);
});
