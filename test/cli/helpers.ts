/** Runs the margay CLI in-process with captured output, against a given datastore. */
import type { Datastore } from '../../src/datastore/datastore.ts';
import { runCli } from '../../src/cli/main.ts';

/** What one CLI run printed and returned. */
export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs `margay ARGS` with the datastore injected (or configured through `env`). */
export async function margay(args: string[], options: { datastore?: Datastore; env?: NodeJS.ProcessEnv } = {}): Promise<CliRun> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    datastore: options.datastore,
    env: options.env ?? {},
    stdout: (t) => (stdout += t),
    stderr: (t) => (stderr += t),
  });
  return { code, stdout, stderr };
}
