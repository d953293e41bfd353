/**
 * The `margay` command: calicoctl's resource verbs under Margay's name. Every failure prints one
 * line on stderr and exits 1; data goes to stdout.
 */
import { Command, CommanderError } from 'commander';
import { allKinds } from '../api/mod.ts';
import { MargayError, safeLine } from '../errors/mod.ts';
import { CALICO_API_COMPATIBILITY, MARGAY_VERSION } from '../version.ts';
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
import { type CliContext, createCliContext, type CliContextOptions } from './context.ts';

function kindsHelp(): string {
  const rows = allKinds.map((k) => `  ${k.kind.padEnd(34)} ${[k.plural, ...k.aliases].join(', ')}`);
  return `\nKinds (case-insensitive; plural and aliases accepted):\n${rows.join('\n')}\n`;
}

/** Builds the program; `ctx` carries the streams and the datastore. */
export function buildProgram(ctx: CliContext, configFile: { value?: string }): Command {
  const program = new Command('margay')
    .description('Margay: a Layer 3 network for containers and VMs, compatible with Calico (projectcalico.org/v3)')
    .option('-c, --config <file>', 'client configuration file (kind: CalicoAPIConfig)')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput({ writeOut: (s) => ctx.stdout(s), writeErr: (s) => ctx.stderr(s), outputError: () => {} })
    .addHelpText('after', kindsHelp());
  program.hook('preAction', (cmd) => {
    configFile.value = cmd.opts().config as string | undefined;
  });
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
  program
    .command('version')
    .description('Print the client version')
    .action(() => {
      ctx.stdout(`Client Version:    v${MARGAY_VERSION}\nAPI Version:       ${CALICO_API_COMPATIBILITY}\n`);
    });
  // Every (sub)command reports errors by throwing, so runCli prints one line and exits 1.
  const quiet = (cmd: Command): void => {
    cmd.exitOverride().configureOutput({ writeOut: (s) => ctx.stdout(s), writeErr: (s) => ctx.stderr(s), outputError: () => {} });
    cmd.commands.forEach(quiet);
  };
  program.commands.forEach(quiet);
  return program;
}

/**
 * The one error formatter of the CLI: one line that says what went wrong, without a stack trace,
 * safe for a terminal (control characters and escape sequences escaped, a line break shown as
 * `\n` rather than cutting the message) and of bounded length (values in messages are quoted and
 * cut by errors/quote.ts; the whole line at most 2,000 characters).
 */
export function describeError(err: unknown): string {
  return safeLine(errorText(err));
}

function errorText(err: unknown): string {
  if (err instanceof CommanderError) return err.message.replace(/^error: /, '');
  if (err instanceof MargayError) return err.message;
  if (err instanceof Error) return `unexpected error: ${err.message}`;
  return `unexpected error: ${String(err)}`;
}

/** Runs the CLI with `argv` (without node and script); resolves to the exit code. */
export async function runCli(argv: string[], options: Omit<CliContextOptions, 'configFile'> = {}): Promise<number> {
  const configFile: { value?: string } = {};
  const ctx = createCliContext({ ...options, configFile: () => configFile.value });
  const program = buildProgram(ctx, configFile);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError && (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version')) {
      return 0;
    }
    ctx.stderr(`${describeError(err)}\n`);
    return 1;
  } finally {
    await ctx.close();
  }
}
