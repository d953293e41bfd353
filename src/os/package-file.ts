/**
 * Files the build puts in this package's `dist/` (native helpers), found from the code that runs:
 * the sources (src/os/), the compiled tree (dist/src/os/) or the agent's bundle (dist/bundle/).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** `relative` (say `dist/cni/margay-netlink`) under the package root, or undefined when it is not built. */
export function findPackageFile(relative: string): string | undefined {
  const here = dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const candidate = join(here, up, relative);
    if (existsSync(candidate)) return candidate;
  }
  return undefined;
}
