/**
 * The process entry of `margay agent` (bin/margay.js picks it for that command): the CLI frame
 * with the agent command only, so that the agent's process loads no other command's code (the
 * lab, Kubernetes, OpenStack, the UI). Bundled into one CommonJS file by scripts/bundle.mjs.
 */
import { registerAgent } from './commands/agent.ts';
import { runProcess } from './program.ts';

/**
 * The code cache's warm-up (src/agent/warm-up.ts): the build calls it from the bundle's exports
 * (bin/code-cache.js `runBundle`) before it writes the cache, so that the cache holds the
 * functions of a cold start compiled. Never called by a running agent.
 */
export { warmUp } from '../agent/mod.ts';

// Not awaited at the top level: the bundle is CommonJS (scripts/bundle.mjs); a failure still ends
// the process (an unhandled rejection).
void runProcess(registerAgent);
