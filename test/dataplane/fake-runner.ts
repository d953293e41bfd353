/** A scripted {@link CommandRunner} for unit tests: records calls, answers by handler. */
import { ExecError, type CommandRunner, type RunOptions, type RunResult } from '../../src/os/mod.ts';

/** One recorded call. */
export interface Call {
  cmd: string;
  args: string[];
  input?: string;
}

/** Answers a call: a result, or a number (exit code, with stderr from `stderr`). */
export type Handler = (call: Call) => { stdout?: string; stderr?: string; code?: number } | undefined;

/** A fake runner and the calls it saw. */
export function fakeRunner(handler: Handler): { runner: CommandRunner; calls: Call[] } {
  const calls: Call[] = [];
  const runner: CommandRunner = async (cmd: string, args: readonly string[], options: RunOptions = {}): Promise<RunResult> => {
    const call: Call = { cmd, args: [...args], ...(options.input !== undefined ? { input: options.input } : {}) };
    calls.push(call);
    const res = handler(call) ?? {};
    const out: RunResult = { stdout: res.stdout ?? '', stderr: res.stderr ?? '', code: res.code ?? 0 };
    if (out.code !== 0 && !options.allowFail) {
      throw new ExecError({ cmd, args, exitCode: out.code, signal: null, stdout: out.stdout, stderr: out.stderr, timedOut: false });
    }
    return out;
  };
  return { runner, calls };
}
