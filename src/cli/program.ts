/**
 * The frame of the `margay` command, without its commands: global options, one-line errors,
 * help. main.ts adds every command; agent-run.ts only `agent`, so that the agent's process loads
 * none of the other commands' code (see bin/margay.js).
 */
import { Command, CommanderError } from 'commander';
import { allKinds } from '../api/mod.ts';
import { MargayError, quote, safeLine } from '../errors/mod.ts';
import { CALICO_API_COMPATIBILITY, MARGAY_VERSION } from '../version.ts';
import { type CliContext, createCliContext, type CliContextOptions } from './context.ts';

function kindsHelp(): string {
  const rows = allKinds.map((k) => `  ${k.kind.padEnd(34)} ${[k.plural, ...k.aliases].join(', ')}`);
  return `\nKinds (case-insensitive; plural and aliases accepted):\n${rows.join('\n')}\n`;
}

/**
 * Where commander's error output goes: nowhere. Its errors come back as exceptions that runCli
 * prints as one line; the help it would print on stderr when a command is missing is kept in
 * `usage` so that the line can name the command.
 */
function quietOutput(ctx: CliContext, usage: { text: string }) {
  return { writeOut: (s: string) => ctx.stdout(s), writeErr: (s: string) => void (usage.text += s), outputError: () => {} };
}

/** Adds commands to the program. */
export type RegisterCommands = (program: Command, ctx: CliContext) => void;

/** Builds the program with the commands `register` adds; `ctx` carries the streams and the datastore. */
export function buildProgramWith(register: RegisterCommands, ctx: CliContext, configFile: { value?: string }, usage: { text: string } = { text: '' }): Command {
  const program = new Command('margay')
    .description('Margay: a Layer 3 network for containers and VMs, compatible with Calico (projectcalico.org/v3)')
    .option('-c, --config <file>', 'client configuration file (kind: CalicoAPIConfig)')
    .showHelpAfterError(false)
    .exitOverride()
    .configureOutput(quietOutput(ctx, usage))
    .addHelpText('after', kindsHelp());
  program.hook('preAction', (cmd) => {
    configFile.value = cmd.opts().config as string | undefined;
  });
  register(program, ctx);
  program
    .command('version')
    .description('Print the client version')
    .action(() => {
      ctx.stdout(`Client Version:    v${MARGAY_VERSION}\nAPI Version:       ${CALICO_API_COMPATIBILITY}\n`);
    });
  // Every (sub)command reports errors by throwing, so runCli prints one line and exits 1.
  const quiet = (cmd: Command): void => {
    cmd.exitOverride().configureOutput(quietOutput(ctx, usage));
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
  // commander puts its suggestion on a second line: one line reads better with it in brackets.
  if (err instanceof CommanderError) return err.message.replace(/^error: /, '').replace(/\n\((.*)\)$/s, ' ($1)').replace(/\n/g, ' ');
  if (err instanceof MargayError) return err.message;
  if (err instanceof Error) return `unexpected error: ${err.message}`;
  return `unexpected error: ${String(err)}`;
}

/**
 * The error of a command line that names no command (`margay`, `margay ipam`) or asks help for
 * one that does not exist (`margay help nope`), where commander would print its help on stderr.
 */
function missingCommand(program: Command, argv: string[], usage: string): MargayError {
  const path = /^Usage: (\S+(?: [a-z-]+)*)/.exec(usage)?.[1] ?? 'margay';
  let cmd: Command | undefined = program;
  for (const word of path.split(' ').slice(1)) cmd = cmd?.commands.find((c) => c.name() === word);
  const names = (cmd?.commands ?? []).map((c) => c.name()).filter((n) => n !== 'help');
  if (argv[0] === 'help' && argv[1] !== undefined) {
    return new MargayError('MARGAY_ERR_USAGE', `unknown command ${quote(argv[1])} (margay --help lists the commands)`);
  }
  return new MargayError('MARGAY_ERR_USAGE', `${path}: give a command: ${names.join(', ')} (${path} --help says more)`);
}

/** Runs a CLI of the commands `register` adds with `argv` (without node and script); resolves to the exit code. */
export async function runProgram(register: RegisterCommands, argv: string[], options: Omit<CliContextOptions, 'configFile'> = {}): Promise<number> {
  const configFile: { value?: string } = {};
  const ctx = createCliContext({ ...options, configFile: () => configFile.value });
  const usage = { text: '' };
  const program = buildProgramWith(register, ctx, configFile, usage);
  try {
    await program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (err) {
    if (err instanceof CommanderError && (err.exitCode === 0 || err.code === 'commander.helpDisplayed' || err.code === 'commander.version')) {
      return 0;
    }
    ctx.stderr(`${describeError(err instanceof CommanderError && err.code === 'commander.help' ? missingCommand(program, argv, usage.text) : err)}\n`);
    return 1;
  } finally {
    await ctx.close();
  }
}

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

/** The process entry's part: runs the CLI on the process's arguments and sets its exit code. */
export async function runProcess(register: RegisterCommands): Promise<void> {
  endQuietlyOnClosedPipe(process.stdout, 0);
  endQuietlyOnClosedPipe(process.stderr, 1);
  process.exitCode = await runProgram(register, process.argv.slice(2));
}
