#!/usr/bin/env -S node --max-semi-space-size=4 --interrupt-budget=400000 --v8-pool-size=1
// The margay command. Runs the compiled CLI (`npm run build`); see README.md. `margay agent` runs
// the agent's own bundle (scripts/bundle.mjs: one file, no other command's code) from V8's code
// cache (code-cache.js), which starts about a second sooner; any other command line, or a build
// without the bundle, the whole CLI.
// The Node options (docs/agent.md, "Node options"): V8's young generation kept small (a resident
// agent otherwise keeps 32 MiB of it once it has been busy), and V8's optimising compiler asked
// for later (a cold start spent ~0.65 s of a second core compiling code it ran a few times). Run
// as `node bin/margay.js`, give them yourself; the lab, the tests and the benches read this line.
// CommonJS (bin/package.json): `margay agent` starts without Node's ES module loader (~7 ms of
// CPU at every start); the whole CLI is an ES module, imported.
'use strict';
const { existsSync } = require('node:fs');
const { pathToFileURL } = require('node:url');

const agentBundle = new URL('../dist/bundle/agent.cjs', pathToFileURL(__filename));
if (process.argv[2] === 'agent' && existsSync(agentBundle)) {
  require('./code-cache.js').runBundle(agentBundle, new URL('../dist/bundle/agent.cjs.cache', pathToFileURL(__filename)));
} else import('../dist/src/cli/run.js');
