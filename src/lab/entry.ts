/**
 * How the lab starts Margay's own programs (the CLI for agents, the pod server, the probe
 * client) so that it works both from the compiled package (dist/…/*.js) and from the sources
 * under tsx (tests): the command line of a sibling module, in whichever form this file runs.
 */
import { existsSync } from 'node:fs';
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
 * The Node options of a resident agent, as bin/margay.js starts one: V8's young generation kept
 * small (it otherwise grows to 32 MiB once the agent has been busy, and stays; docs/agent.md).
 */
export const AGENT_NODE_OPTIONS: readonly string[] = ['--max-semi-space-size=4'];

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
