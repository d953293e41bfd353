#!/usr/bin/env node
// The margay command. Runs the compiled CLI (npm run build); see README.md.
import { runCli } from '../dist/src/cli/main.js';

process.exitCode = await runCli(process.argv.slice(2));
