// Bundles the agent's process entry (src/cli/agent-run.ts) into one file, dist/bundle/agent.js,
// so that `margay agent` starts by loading one module instead of some hundreds (bin/margay.js
// picks it). The npm packages are in it too, etcd3 and gRPC included: etcd3 parses its .proto
// files when it is loaded (~0.1 s of every start, plus ~100 files of gRPC and protobufjs to
// resolve and compile, docs/agent.md), so the bundle holds them parsed, as protobufjs JSON made
// here, and etcd3 builds its gRPC definitions from that. Run by `npm run build`. With --check it
// writes nothing and only checks what the file would hold.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { build } from 'esbuild';

// The agent must not load the code of the other commands; the build fails if it would.
const FORBIDDEN = /^src\/(lab|ui|openstack|kube\/controllers)\//;

/**
 * etcd3's connection pool loads `rpc.proto` (and its imports) with proto-loader's `loadSync` when
 * it is required; in the bundle it calls `fromJSON` with the same files parsed at build time
 * (the same parse options; the others apply when the definitions are built, as before).
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
        return { contents: source.replace(call, `(0, proto_loader_1.fromJSON)(${json}, {`), loader: 'js' };
      });
    },
  };
}

const result = await build({
  entryPoints: ['src/cli/agent-run.ts'],
  outfile: 'dist/bundle/agent.js',
  write: !process.argv.includes('--check'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  plugins: [etcdProtosParsed()],
  // CommonJS packages inside an ES module: their `require` of Node's own modules.
  banner: { js: "import { createRequire as __margayRequire } from 'node:module'; const require = __margayRequire(import.meta.url);" },
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
});
// What ends up in the file (the CNI service imports the Kubernetes client through kube/mod.ts;
// the controllers behind the same file are shaken out, but for a constant or two).
const output = result.metafile.outputs['dist/bundle/agent.js'];
const modules = Object.entries(output.inputs).filter(([, v]) => v.bytesInOutput > 256).map(([k]) => k);
const forbidden = modules.filter((m) => FORBIDDEN.test(m));
if (forbidden.length > 0) {
  console.error(`scripts/bundle.mjs: the agent entry would load ${forbidden.join(', ')}; keep these behind the commands that need them`);
  process.exit(1);
}
