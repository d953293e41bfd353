#!/usr/bin/env node
// The margay command. Runs the compiled CLI (`npm run build`); see README.md. `margay agent` runs
// the agent's own bundle (scripts/bundle.mjs: one file, no other command's code), which starts
// about a second sooner; any other command line, or a build without the bundle, the whole CLI.
import { existsSync } from 'node:fs';

const agentBundle = new URL('../dist/bundle/agent.js', import.meta.url);
if (process.argv[2] === 'agent' && existsSync(agentBundle)) await import(agentBundle.href);
else await import('../dist/src/cli/run.js');
