/**
 * How the lab starts Margay's own programs (the CLI for agents, the pod server, the probe
 * client) so that it works both from the compiled package (dist/…/*.js) and from the sources
 * under tsx (tests): the command line of a sibling module, in whichever form this file runs.
 */
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { MargayError } from '../errors/mod.ts';

const here = dirname(fileURLToPath(import.meta.url));
const compiled = import.meta.url.endsWith('.js');

/** `[node, …args]` that runs `src/<relative>` (without extension), with Node options `nodeOptions`. */
export function moduleCommand(relative: string, args: string[] = [], nodeOptions: string[] = []): [string, string[]] {
  const srcRoot = resolve(here, '..');
  if (compiled) return [process.execPath, [...nodeOptions, join(srcRoot, `${relative}.js`), ...args]];
  return [process.execPath, [...nodeOptions, '--import', 'tsx', join(srcRoot, `${relative}.ts`), ...args]];
}

/**
 * The Node options of a resident agent, as `margay agent` runs: the ones on bin/margay.js's
 * `#!` line, read from there so that there is one list (the build makes the agent's code cache
 * under them, and V8 rejects a cache made under other options). Why each is there:
 * docs/agent.md ("Node options").
 */
export function agentNodeOptions(): string[] {
  const file = join(packageRoot(), 'bin', 'margay.js');
  const first = readFileSync(file, 'utf8').split('\n')[0] ?? '';
  const options = shebangNodeOptions(first);
  if (!options) throw new MargayError('MARGAY_ERR_NOT_INSTALLED', `${file}: the first line is not "#!/usr/bin/env -S node …" (or "#!/path/to/node …") but ${JSON.stringify(first)}`);
  return options;
}

/**
 * The Node options of a `#!/usr/bin/env -S node …` line, or of `#!/path/to/node …` (as a
 * packager may rewrite it); undefined for any other line.
 */
export function shebangNodeOptions(line: string): string[] | undefined {
  const m = /^#!(?:\/usr\/bin\/env -S node|\/\S*\/node)((?: +\S+)*) *$/.exec(line);
  return m ? (m[1] ?? '').split(' ').filter((o) => o !== '') : undefined;
}

/** The repository (or installed package) root. */
export function packageRoot(): string {
  return resolve(here, compiled ? '../../..' : '../..');
}

/** The compiled CNI plugin (built by scripts/install-deps.sh). */
export function cniPluginPath(): string {
  const path = join(packageRoot(), 'dist', 'cni', 'margay');
  if (!existsSync(path)) throw new MargayError('MARGAY_ERR_NOT_INSTALLED', `the CNI plugin ${path} is missing: run scripts/install-deps.sh`);
  return path;
}
