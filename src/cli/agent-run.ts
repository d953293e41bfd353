/**
 * The process entry of `margay agent` (bin/margay.js picks it for that command): the CLI frame
 * with the agent command only, so that the agent's process loads no other command's code (the
 * lab, Kubernetes, OpenStack, the UI). Bundled into one file by scripts/bundle.mjs.
 */
import { registerAgent } from './commands/agent.ts';
import { runProcess } from './program.ts';

await runProcess(registerAgent);
