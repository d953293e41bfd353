// Bundles the agent's process entry (src/cli/agent-run.ts) into one CommonJS file,
// dist/bundle/agent.cjs, so that `margay agent` starts by loading one module instead of some
// hundreds (bin/margay.js picks it), and writes V8's code cache of it, agent.cjs.cache (run from
// it by bin/code-cache.js; CommonJS because Node 20 takes a code cache for a script, not for an
// ES module). The npm packages are in it too, etcd3 and gRPC included: etcd3 parses its .proto
// files when it is loaded (~0.1 s of every start, plus ~100 files of gRPC and protobufjs to
// resolve and compile, docs/agent.md), so the bundle holds them parsed, as protobufjs JSON made
// here, and etcd3 builds its gRPC definitions from that. Run by `npm run build`. With --check it
// writes nothing and only checks what the file would hold.
import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

// The agent must not load the code of the other commands; the build fails if it would.
const FORBIDDEN = /^src\/(lab|ui|openstack|kube\/controllers)\//;

/**
 * etcd3's connection pool loads `rpc.proto` (and its imports) with proto-loader's `loadSync` when
 * it is required; in the bundle it calls `fromJSON` with the same files parsed at build time
 * (the same parse options; the others apply when the definitions are built, as before), and that
 * of grpc-definitions.cjs, which leaves out the descriptors proto-loader makes for reflection.
 */
function etcdProtosParsed() {
  const require = createRequire(import.meta.url);
  const call = /\(0, proto_loader_1\.loadSync\)\(`\$\{__dirname\}\/\.\.\/proto\/rpc\.proto`, \{/;
  return {
    name: 'etcd-protos-parsed',
    setup(b) {
      b.onLoad({ filter: /[\\/]etcd3[\\/]lib[\\/]connection-pool\.js$/ }, ({ path }) => {
        const source = readFileSync(path, 'utf8');
        if (!call.test(source)) throw new Error(`scripts/bundle.mjs: ${path} no longer loads rpc.proto as expected; update etcdProtosParsed`);
        const { loadProtosWithOptionsSync } = require('@grpc/proto-loader/build/src/util.js');
        const root = loadProtosWithOptionsSync(new URL('rpc.proto', new URL('../proto/', `file://${path}`)).pathname, { keepCase: true });
        const json = JSON.stringify(root.toJSON({ keepComments: false }));
        const loader = /require\("@grpc\/proto-loader"\)/;
        if (!loader.test(source)) throw new Error(`scripts/bundle.mjs: ${path} no longer requires @grpc/proto-loader as expected; update etcdProtosParsed`);
        const definitions = JSON.stringify(new URL('grpc-definitions.cjs', import.meta.url).pathname);
        return { contents: source.replace(loader, `require(${definitions})`).replace(call, `(0, proto_loader_1.fromJSON)(${json}, {`), loader: 'js' };
      });
    },
  };
}

const result = await build({
  entryPoints: ['src/cli/agent-run.ts'],
  outfile: 'dist/bundle/agent.cjs',
  write: !process.argv.includes('--check'),
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  plugins: [etcdProtosParsed()],
  // The sources' `import.meta.url` (files found next to the code): the bundle's own. The file is
  // one function expression, Node's CommonJS wrapper, that bin/code-cache.js compiles and calls:
  // its text is the script's source as it is, with no wrapped copy made at every start.
  define: { 'import.meta.url': '__margayImportMetaUrl' },
  banner: { js: "(function (exports, require, module, __filename, __dirname) { 'use strict'; const __margayImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  footer: { js: '})' },
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
});
// What ends up in the file (the CNI service imports the Kubernetes client through kube/mod.ts;
// the controllers behind the same file are shaken out, but for a constant or two).
const output = result.metafile.outputs['dist/bundle/agent.cjs'];
const modules = Object.entries(output.inputs).filter(([, v]) => v.bytesInOutput > 256).map(([k]) => k);
const forbidden = modules.filter((m) => FORBIDDEN.test(m));
if (forbidden.length > 0) {
  console.error(`scripts/bundle.mjs: the agent entry would load ${forbidden.join(', ')}; keep these behind the commands that need them`);
  process.exit(1);
}

// The file as ASCII: esbuild escapes what is not ASCII in strings but leaves it in comments and
// regular expressions, and one such character makes V8 hold the whole 3.5 MB source in two bytes
// per character, 3.5 MiB more of every agent's resident heap. A `\uXXXX` escape means the same
// character in a string, a template's value, a regular expression or an identifier, and nothing
// in a comment (the source map's columns shift on the few lines that had one).
if (!process.argv.includes('--check')) {
  const file = 'dist/bundle/agent.cjs';
  const text = readFileSync(file, 'utf8');
  // After a backslash the escape would change the meaning (`\é` is not `\\u00e9`): refuse to build.
  const escaped = /(?<!\\)(?:\\\\)*\\[^\x00-\x7f]/.exec(text);
  if (escaped) {
    console.error(`scripts/bundle.mjs: ${file} has a character that is not ASCII after a backslash at offset ${escaped.index}; write it as a \\u escape in the source`);
    process.exit(1);
  }
  const ascii = text.replace(/[^\x00-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
  if (ascii !== text) writeFileSync(file, ascii);
}

// V8's code cache, made by the Node options `margay agent` runs with (bin/margay.js's `#!` line:
// V8 rejects a cache made under other options), from a start of the bundle as `agent --help`
// followed by the bundle's warm-up (src/agent/warm-up.ts: a cold start's path on a small synthetic
// cluster, in that process), so that the cache holds the functions of a cold start compiled and
// the agent's main thread does not compile them at every start (docs/agent.md). A warm-up that
// fails fails the build: a cache without it still works, but every start would pay for it
// unnoticed, and the warm-up reads nothing from the machine, so it fails only when the code broke it.
if (!process.argv.includes('--check')) {
  const cache = 'dist/bundle/agent.cjs.cache';
  rmSync(cache, { force: true });
  // The same reading of the `#!` line as the lab, the tests and the benches (src/lab/entry.ts,
  // compiled by the build's tsc step before this script runs).
  const { agentNodeOptions } = await import('../dist/src/lab/entry.js');
  const options = agentNodeOptions();
  const make = `import('./bin/code-cache.js').then((m) => m.runBundle(new URL('file://${process.cwd()}/dist/bundle/agent.cjs'), new URL('file://${process.cwd()}/${cache}'), { writeCache: true, warmUp: true }))`;
  // `-e` takes no script path: the placeholder stands where bin/margay.js would be in argv.
  const res = spawnSync(process.execPath, [...options, '--input-type=module', '-e', make, 'margay', 'agent', '--help'], { encoding: 'utf8', stdio: ['ignore', 'ignore', 'pipe'], timeout: 120_000 });
  if (res.status !== 0) {
    const why = res.error ? `${res.error.message} (the warm-up left something running, e.g. a timer or a socket?)` : res.stderr;
    console.error(`scripts/bundle.mjs: writing the code cache failed: ${why}`);
    process.exit(1);
  }
  // A V8 flag set at run time (v8.setFlagsFromString) by what the warm-up ran changes V8's flag
  // hash, and every start would then reject the cache: checked here, where it costs one start.
  const probe = `import('./bin/code-cache.js').then((m) => process.stdout.write(String(m.compileBundle(new URL('file://${process.cwd()}/dist/bundle/agent.cjs'), new URL('file://${process.cwd()}/${cache}')).cachedDataRejected)))`;
  const taken = spawnSync(process.execPath, [...options, '--input-type=module', '-e', probe], { encoding: 'utf8', timeout: 60_000 });
  if (taken.stdout !== 'false') {
    rmSync(cache, { force: true });
    console.error(`scripts/bundle.mjs: V8 rejects the code cache it just wrote under bin/margay.js's Node options (did the warm-up set a V8 flag?); no cache written. ${taken.stderr}`);
    process.exit(1);
  }
}
