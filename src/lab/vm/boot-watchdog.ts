/**
 * The boot watchdog of lab VMs: a guest under software emulation can still hang silently in early
 * boot on a loaded machine (see qemu.ts). A healthy guest prints its kernel banner on the console
 * within seconds, so a VM whose console stays silent past a short bound is stopped and booted
 * again (a bounded number of times, each retry logged): a rare hang costs seconds, not a failed
 * `lab vm add`.
 */
import { MargayError } from '../../errors/mod.ts';
import { pollUntil, type PollOptions } from '../poll.ts';

/** One started boot, as the watchdog sees it. */
export interface BootAttempt {
  /**
   * True once the console printed anything. Throws when the emulator has exited (that is not a
   * hang: it ends the boot with its error, no retry).
   */
  spoke(): boolean;
  /** Stops this attempt's emulator (by its PID). */
  stop(): Promise<void>;
}

/** Options of {@link bootWatched}. */
export interface WatchdogOptions<A extends BootAttempt> {
  /** Starts boot number `n` (1-based). */
  start(n: number): A | Promise<A>;
  /** How long a console may stay silent before the attempt counts as hung, in ms. */
  silenceMs: number;
  /** How many boots at most (≥ 1). */
  attempts: number;
  /** Pause between two looks at the console, in ms (default 50). */
  intervalMs?: number;
  /** The time and the pause (a test brings its own). */
  clock?: PollOptions['clock'];
  /** Told about each hung attempt. */
  log?(message: string): void;
  /** Names the VM in messages. */
  what: string;
}

/**
 * Boots until an attempt's console speaks within `silenceMs`; returns that attempt (still
 * running) and its number. Each silent attempt is stopped before the next starts; after
 * `attempts` silent ones, throws MARGAY_ERR_NOT_READY (all of them stopped).
 */
export async function bootWatched<A extends BootAttempt>(options: WatchdogOptions<A>): Promise<{ attempt: A; n: number }> {
  const now = options.clock?.now ?? (() => Date.now());
  for (let n = 1; n <= options.attempts; n++) {
    const attempt = await options.start(n);
    let spoke: boolean | undefined;
    try {
      spoke = await pollUntil(() => (attempt.spoke() ? true : undefined), {
        deadline: now() + options.silenceMs,
        intervalMs: options.intervalMs ?? 50,
        ...(options.clock ? { clock: options.clock } : {}),
      });
    } catch (err) {
      await attempt.stop();
      throw err;
    }
    if (spoke) return { attempt, n };
    await attempt.stop();
    options.log?.(`${options.what}: console silent for ${options.silenceMs / 1000} s (boot ${n} of ${options.attempts} hung), ${n < options.attempts ? 'booting again' : 'giving up'}`);
  }
  throw new MargayError('MARGAY_ERR_NOT_READY', `${options.what} hung silently in early boot ${options.attempts} times (no console output within ${options.silenceMs / 1000} s each)`);
}
