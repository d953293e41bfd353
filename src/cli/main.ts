/**
 * The `margay` command: calicoctl's resource verbs under Margay's name. Every failure prints one
 * line on stderr and exits 1; data goes to stdout.
 */
import type { Command } from 'commander';
import { registerControllers } from './commands/controllers.ts';
import { registerKubeControllers } from './commands/kube-controllers.ts';
import { registerAgent } from './commands/agent.ts';
import { registerEditVerbs } from './commands/edit-verbs.ts';
import { registerNode } from './commands/node.ts';
import { registerIpam } from './commands/ipam.ts';
import { registerLab } from './commands/lab.ts';
import { registerPolicy } from './commands/policy.ts';
import { registerGet } from './commands/read-verbs.ts';
import { registerValidate } from './commands/validate.ts';
import { registerWriteVerbs } from './commands/write-verbs.ts';
import type { CliContext, CliContextOptions } from './context.ts';
import { buildProgramWith, runProgram } from './program.ts';

export { describeError } from './program.ts';

/** Adds every command. */
export function registerAll(program: Command, ctx: CliContext): void {
  registerWriteVerbs(program, ctx);
  registerEditVerbs(program, ctx);
  registerGet(program, ctx);
  registerIpam(program, ctx);
  registerControllers(program, ctx);
  registerKubeControllers(program, ctx);
  registerValidate(program, ctx);
  registerNode(program, ctx);
  registerPolicy(program, ctx);
  registerAgent(program, ctx);
  registerLab(program, ctx);
}

/** Builds the program; `ctx` carries the streams and the datastore. */
export function buildProgram(ctx: CliContext, configFile: { value?: string }, usage: { text: string } = { text: '' }): Command {
  return buildProgramWith(registerAll, ctx, configFile, usage);
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export function runCli(argv: string[], options: Omit<CliContextOptions, 'configFile'> = {}): Promise<number> {
  return runProgram(registerAll, argv, options);
}
