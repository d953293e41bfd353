/** The process entry of the `margay` command: runs the CLI and exits with its code. */
import { runCli } from './main.ts';

/**
 * A reader that goes away early (`margay get ippools -o yaml | head -1`) closes the pipe; the next
 * write fails with EPIPE. That ends the command quietly, as a closed pipe ends `cat`: with 0 when
 * standard output closed (the reader took what it wanted), 1 when standard error closed (whatever
 * was being reported can no longer be). Any other stream error ends it the same way, with 1.
 */
function endQuietlyOnClosedPipe(stream: NodeJS.WriteStream, exitCode: number): void {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    process.exit(err.code === 'EPIPE' ? exitCode : 1);
  });
}

endQuietlyOnClosedPipe(process.stdout, 0);
endQuietlyOnClosedPipe(process.stderr, 1);
process.exitCode = await runCli(process.argv.slice(2));
