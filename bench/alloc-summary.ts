/**
 * Summarises a V8 sampling heap profile taken with collected objects included (what was
 * allocated over a time, e.g. the agent's during the CNI bench's sequential ADDs:
 * `BENCH_AGENT_ALLOC=<file>` of bench/cni.ts): the total, and the bytes by the allocating
 * function, by its source file, and by the innermost frame of the project's own code (`src/`) on
 * the stack. Frames in the agent's bundle (dist/bundle/agent.cjs) are named by the source file
 * esbuild's `// path` comments give for their line. Prints text; asserts nothing.
 *
 * Run: npx tsx bench/alloc-summary.ts FILE [--per N] [--top 25]   (--per: divide by N operations)
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';

interface AllocNode {
  callFrame: { functionName: string; url: string; lineNumber: number };
  selfSize: number;
  children: AllocNode[];
}

const { values, positionals } = parseArgs({ allowPositionals: true, options: { per: { type: 'string', default: '1' }, top: { type: 'string', default: '25' } } });
const file = positionals[0];
if (!file) {
  console.error('usage: alloc-summary.ts FILE [--per N] [--top N]');
  process.exit(2);
}
const per = Number(values.per);
const top = Number(values.top);

/** For each bundle file, the source file of each line (from esbuild's `// path` section comments). */
const bundleSources = new Map<string, string[]>();
function sourceOf(url: string, line: number): string {
  if (!url.endsWith('.cjs')) return url.replace(/^(file:\/\/)?\/.*?\/(src|node_modules)\//, '$2/');
  let lines = bundleSources.get(url);
  if (!lines) {
    const path = url.startsWith('file://') ? fileURLToPath(url) : url;
    lines = [];
    if (existsSync(path)) {
      let current = url;
      for (const text of readFileSync(path, 'utf8').split('\n')) {
        const m = /^\/\/ (?:\S*?\/)?((?:src|node_modules)\/\S+)$/.exec(text);
        if (m) current = m[1]!;
        lines.push(current);
      }
    }
    bundleSources.set(url, lines);
  }
  return lines[line] ?? url;
}

const profile = JSON.parse(readFileSync(file, 'utf8')) as { head: AllocNode };
const byFunction = new Map<string, number>();
const byFile = new Map<string, number>();
const byOwnCode = new Map<string, number>();
/** By area: the directory of the innermost src/ frame (src/cni, src/ipam, …), else the allocating package (an async continuation of gRPC, node's internals). */
const byArea = new Map<string, number>();
/** Bytes allocated while a function of src/ was on the stack (each counted once per stack). */
const inclusive = new Map<string, number>();
let total = 0;
const add = (m: Map<string, number>, k: string, v: number): void => void m.set(k, (m.get(k) ?? 0) + v);

function areaOf(own: string | undefined, src: string): string {
  if (own !== undefined) return /src\/[^/]+/.exec(own)?.[0] ?? own;
  const pkg = /^node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(src)?.[1];
  if (pkg) return `no src/ frame: ${pkg}`;
  return src.startsWith('node:') ? 'no src/ frame: node' : 'no src/ frame: V8 builtins';
}

function walk(node: AllocNode, own: string | undefined, stack: Set<string>): void {
  const f = node.callFrame;
  const src = sourceOf(f.url, f.lineNumber);
  const name = `${f.functionName || '(anonymous)'} ${src}`;
  const mine = src.startsWith('src/') ? name : own;
  const entered = mine === name && !stack.has(name);
  if (entered) stack.add(name);
  if (node.selfSize > 0) {
    total += node.selfSize;
    add(byFunction, name, node.selfSize);
    add(byFile, src || '(V8/native)', node.selfSize);
    add(byOwnCode, mine ?? '(no frame of src/)', node.selfSize);
    add(byArea, areaOf(mine, src), node.selfSize);
    for (const s of stack) add(inclusive, s, node.selfSize);
  }
  for (const c of node.children) walk(c, mine, stack);
  if (entered) stack.delete(name);
}
walk(profile.head, undefined, new Set());

const kib = (b: number): string => (b / per / 1024).toFixed(1);
const list = (title: string, m: Map<string, number>): void => {
  console.log(`\n${title} (KiB${per > 1 ? ` per operation, of ${per}` : ''}):`);
  for (const [k, v] of [...m].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${kib(v).padStart(9)}  ${(((v / total) * 100).toFixed(1) + '%').padStart(6)}  ${k}`);
};
console.log(`allocated ${kib(total)} KiB${per > 1 ? ` per operation (${(total / 1024 / 1024).toFixed(2)} MiB in all)` : ''}`);
list('By area (the innermost src/ frame\'s directory, else the allocating package)', byArea);
list('By the innermost frame of src/ on the stack', byOwnCode);
list('By source file of the allocating function', byFile);
list('While a function of src/ was on the stack (inclusive)', inclusive);
list('By allocating function', byFunction);
