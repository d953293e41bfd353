#!/usr/bin/env node
// The margay command. Runs the compiled CLI (`npm run build`); see README.md.
import '../dist/src/cli/run.js';
