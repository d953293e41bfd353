#!/usr/bin/env -S node --max-semi-space-size=4 --interrupt-budget=400000
// The margay command. Runs the compiled CLI (`npm run build`); see README.md. `margay agent` runs
// the agent's own bundle (scripts/bundle.mjs: one file, no other command's code) from V8's code
// cache (code-cache.js), which starts about a second sooner; any other command line, or a build
// without the bundle, the whole CLI.
// The Node options (docs/agent.md, "Node options"): V8's young generation kept small (a resident
// agent otherwise keeps 32 MiB of it once it has been busy), and V8's optimising compiler asked
// for later (a cold start spent ~0.65 s of a second core compiling code it ran a few times). Run
// as `node bin/margay.js`, give them yourself; the lab, the tests and the benches read this line.
import { existsSync } from 'node:fs';

const agentBundle = new URL('../dist/bundle/agent.cjs', import.meta.url);
if (process.argv[2] === 'agent' && existsSync(agentBundle)) {
  const { runBundle } = await import('./code-cache.js');
  runBundle(agentBundle, new URL('../dist/bundle/agent.cjs.cache', import.meta.url));
} else await import('../dist/src/cli/run.js');
