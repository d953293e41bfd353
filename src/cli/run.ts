/** The process entry of the `margay` command: runs the CLI and exits with its code. */
import { registerAll } from './main.ts';
import { runProcess } from './program.ts';

await runProcess(registerAll);
