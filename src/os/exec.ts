/**
 * The dataplane's one way to run a command: spawn with an argument array (never a shell),
 * optionally inside a network namespace, with standard input, a timeout and a typed error that
 * carries the exit code and standard error.
 *
 * Every driver takes a {@link CommandRunner} rather than calling this directly, so the same code
 * programs the root namespace of a real host, a lab host namespace, or a test namespace, and
 * unit tests can substitute a fake.
 */
import { spawn } from 'node:child_process';
import { MargayError } from '../errors/mod.ts';

/** Options of one command run. */
export interface RunOptions {
  /** Written to the command's standard input (then closed). */
  input?: string;
  /** Kill the command (SIGKILL) after this many milliseconds; default 30000. */
  timeoutMs?: number;
  /** Resolve with a non-zero exit instead of rejecting with {@link ExecError}. */
  allowFail?: boolean;
}

/** Options of {@link exec}: {@link RunOptions} plus where to run. */
export interface ExecOptions extends RunOptions {
  /** Run inside this named network namespace (`ip netns exec <netns> …`). */
  netns?: string;
  /** Stop collecting output beyond this many bytes per stream (default 256 MiB). */
  maxOutputBytes?: number;
}

/** What a command printed and how it exited. */
export interface RunResult {
  stdout: string;
  stderr: string;
  /** The exit code; non-zero only with `allowFail`. */
  code: number;
}

/** Runs `cmd args…` somewhere (a namespace, a fake); the seam every driver uses. */
export type CommandRunner = (cmd: string, args: readonly string[], options?: RunOptions) => Promise<RunResult>;

/** A command that could not be started, exited non-zero, was killed or timed out (MARGAY_ERR_COMMAND_FAILED). */
export class ExecError extends MargayError {
  /** The program that ran (after any namespace prefix, the original command is in `args`). */
  readonly cmd: string;
  readonly args: readonly string[];
  /** The exit code, or null when the command was killed or could not start. */
  readonly exitCode: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
  readonly timedOut: boolean;

  constructor(
    init: {
      cmd: string;
      args: readonly string[];
      exitCode: number | null;
      signal: NodeJS.Signals | null;
      stdout: string;
      stderr: string;
      timedOut: boolean;
    },
    options?: ErrorOptions,
  ) {
    const what = init.timedOut
      ? 'timed out'
      : init.exitCode !== null
        ? `exited with code ${init.exitCode}`
        : init.signal
          ? `was killed by ${init.signal}`
          : 'could not be started';
    const detail = init.stderr.trim() || (options?.cause instanceof Error ? options.cause.message : '');
    super('MARGAY_ERR_COMMAND_FAILED', `${[init.cmd, ...init.args].join(' ').slice(0, 200)} ${what}${detail ? `: ${detail.slice(0, 2000)}` : ''}`, options);
    this.name = 'ExecError';
    this.cmd = init.cmd;
    this.args = init.args;
    this.exitCode = init.exitCode;
    this.signal = init.signal;
    this.stdout = init.stdout;
    this.stderr = init.stderr;
    this.timedOut = init.timedOut;
  }
}

const DEFAULT_TIMEOUT_MS = 30_000;
const DEFAULT_MAX_OUTPUT = 256 * 1024 * 1024;

/**
 * Runs `cmd args…` without a shell. With `netns`, runs `ip netns exec <netns> cmd args…`.
 * Rejects with {@link ExecError} on a non-zero exit (unless `allowFail`), a signal, a timeout or a
 * failure to start.
 */
export function exec(cmd: string, args: readonly string[] = [], options: ExecOptions = {}): Promise<RunResult> {
  const [program, argv] = options.netns ? ['ip', ['netns', 'exec', options.netns, cmd, ...args]] : [cmd, [...args]];
  const timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
  const maxOutput = options.maxOutputBytes ?? DEFAULT_MAX_OUTPUT;
  return new Promise((resolve, reject) => {
    let child;
    try {
      child = spawn(program, argv, { stdio: ['pipe', 'pipe', 'pipe'], shell: false });
    } catch (err) {
      reject(new ExecError({ cmd: program, args: argv, exitCode: null, signal: null, stdout: '', stderr: '', timedOut: false }, { cause: err }));
      return;
    }
    const out: Buffer[] = [];
    const errOut: Buffer[] = [];
    let outBytes = 0;
    let errBytes = 0;
    let timedOut = false;
    let settled = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, timeoutMs);
    child.stdout.on('data', (chunk: Buffer) => {
      if (outBytes < maxOutput) out.push(chunk);
      outBytes += chunk.length;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      if (errBytes < maxOutput) errOut.push(chunk);
      errBytes += chunk.length;
    });
    // A command that exits without reading its input must not crash us with EPIPE.
    child.stdin.on('error', () => undefined);
    child.on('error', (err) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      reject(
        new ExecError(
          { cmd: program, args: argv, exitCode: null, signal: null, stdout: '', stderr: Buffer.concat(errOut).toString('utf8'), timedOut },
          { cause: err },
        ),
      );
    });
    child.on('close', (code, signal) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      const stdout = Buffer.concat(out).toString('utf8');
      const stderr = Buffer.concat(errOut).toString('utf8');
      if (code === 0 || (code !== null && options.allowFail && !timedOut)) {
        resolve({ stdout, stderr, code: code ?? 0 });
        return;
      }
      reject(new ExecError({ cmd: program, args: argv, exitCode: code, signal, stdout, stderr, timedOut }));
    });
    if (options.input !== undefined) child.stdin.end(options.input);
    else child.stdin.end();
  });
}

/** Options of {@link createRunner}. */
export interface RunnerOptions {
  /** Every command runs inside this named network namespace. */
  netns?: string;
  /** Default timeout per command (ms). */
  timeoutMs?: number;
}

/** A {@link CommandRunner} that runs real commands, optionally inside a named namespace. */
export function createRunner(defaults: RunnerOptions = {}): CommandRunner {
  return (cmd, args, options = {}) =>
    exec(cmd, args, {
      ...options,
      timeoutMs: options.timeoutMs ?? defaults.timeoutMs,
      ...(defaults.netns !== undefined ? { netns: defaults.netns } : {}),
    });
}
