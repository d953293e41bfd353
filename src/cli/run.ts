/** The process entry of the `margay` command: runs the CLI and exits with its code. */
import { runCli } from './main.ts';

process.exitCode = await runCli(process.argv.slice(2));
