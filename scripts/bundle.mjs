// Bundles the agent's process entry (src/cli/agent-run.ts) into one file, dist/bundle/agent.js,
// so that `margay agent` starts by loading one module instead of some hundreds (bin/margay.js
// picks it). The npm packages are in it too, but for etcd3 (it reads its .proto files next to
// its own code, and brings gRPC), which is resolved from node_modules as usual. Run by
// `npm run build`. With --check it writes nothing and only checks what the file would hold.
import { build } from 'esbuild';

// The agent must not load the code of the other commands; the build fails if it would.
const FORBIDDEN = /^src\/(lab|ui|openstack|kube\/controllers)\//;

const result = await build({
  entryPoints: ['src/cli/agent-run.ts'],
  outfile: 'dist/bundle/agent.js',
  write: !process.argv.includes('--check'),
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  external: ['etcd3'],
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
