/**
 * The private files a cold start's load ahead is written to (nft's text or the helper's netlink
 * stream), named by the agent's process ID, and the sweep of those an agent left when it was
 * killed between writing one and removing it: at the next load ahead, the files of processes that
 * no longer exist are removed (another agent's, on a machine with several, are left alone).
 */
import { randomBytes } from 'node:crypto';
import { readdir, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const PREFIX = 'margay-ahead-';
/** A load-ahead file's name, with the ID of the process that wrote it. */
const AHEAD_FILE = new RegExp(`^${PREFIX}(\\d+)-[0-9a-f]+\\.(nft|nl)$`);

/** The path of a new private file for a load ahead (`ext`: `nft` or `nl`). */
export function aheadPath(ext: string): string {
  return join(tmpdir(), `${PREFIX}${process.pid}-${randomBytes(8).toString('hex')}.${ext}`);
}

/** True when a process with this ID exists (signal 0: no signal sent, only the check). */
function processExists(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // there, someone else's
  }
}

/**
 * Removes load-ahead files in `dir` (default the temporary directory) whose process is gone;
 * resolves to how many. Never throws (a file removed meanwhile, an unreadable directory: nothing).
 */
export async function removeStaleAheadFiles(options: { dir?: string; exists?: (pid: number) => boolean } = {}): Promise<number> {
  const dir = options.dir ?? tmpdir();
  const exists = options.exists ?? processExists;
  let removed = 0;
  try {
    for (const name of await readdir(dir)) {
      const match = AHEAD_FILE.exec(name);
      if (!match || Number(match[1]) === process.pid || exists(Number(match[1]))) continue;
      await unlink(join(dir, name)).then(
        () => removed++,
        () => undefined,
      );
    }
  } catch {
    // The directory could not be read: nothing to sweep.
  }
  return removed;
}
