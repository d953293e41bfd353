/** Lab commands that run another program (kubectl, openstack) with the lab's settings. */
import { spawnSync } from 'node:child_process';
import type { Command } from 'commander';
import { MargayError } from '../../errors/mod.ts';

/** A lab command that runs another program with the lab's settings, its arguments passed through. */
export interface Passthrough {
  /** The subcommand and the program's name. */
  name: string;
  description: string;
  /** How to install the program, for the error when it cannot start. */
  install: string;
  /** The program's arguments and environment for the user's arguments (throws when the lab lacks the part). */
  command: (args: string[]) => { args: string[]; env?: NodeJS.ProcessEnv };
}

/** Registers `lab <name> [args...]` (kubectl, openstack): exits with the program's status. */
export function registerPassthrough(lab: Command, p: Passthrough): void {
  lab.command(p.name)
    .description(p.description)
    .argument('[args...]', `${p.name}'s arguments (put them after -- when they start with -)`)
    .allowUnknownOption()
    .helpOption(false)
    .action((args: string[]) => {
      const { args: argv, env } = p.command(args);
      const res = spawnSync(p.name, argv, { stdio: 'inherit', ...(env ? { env } : {}) });
      if (res.error) throw new MargayError('MARGAY_ERR_CONFIG', `${p.name} could not be started (${res.error.message}): ${p.install}`);
      if (res.status !== 0) process.exitCode = res.status ?? 1;
    });
}
