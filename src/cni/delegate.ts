/**
 * CNI delegation, for a main plugin whose `ipam.type` names another plugin (e.g. the stock
 * `host-local`): find the executable in CNI_PATH, run it with the same configuration on stdin and
 * the same CNI_* variables except CNI_COMMAND, and read its result or error object, as libcni's
 * `invoke.DelegateAdd`/`DelegateDel` do.
 */
import { access, constants } from 'node:fs/promises';
import { join } from 'node:path';
import { execFile } from 'node:child_process';
import type { CniRequest } from './request.ts';
import { parseResult, type CniResult } from './result.ts';
import { elide, quote } from '../errors/mod.ts';
import { CniCode, CniError } from './spec.ts';

/** Finds `type` in the CNI_PATH directories. @throws {CniError} 7 when it is not there. */
export async function findPlugin(type: string, path: string[]): Promise<string> {
  for (const dir of path) {
    const candidate = join(dir, type);
    try {
      await access(candidate, constants.X_OK);
      return candidate;
    } catch {
      // next directory
    }
  }
  throw new CniError(CniCode.INVALID_NETWORK_CONFIG, `IPAM plugin ${quote(type)} was not found in CNI_PATH (${elide(path.join(':'), 200) || 'empty'})`);
}

/**
 * Runs the IPAM plugin `type` for `command` with the request's configuration and variables.
 * Returns its parsed result for ADD, undefined otherwise.
 * @throws {CniError} the plugin's own error object when it printed one, else 5.
 */
export async function delegate(type: string, command: 'ADD' | 'DEL' | 'CHECK' | 'GC' | 'STATUS', req: CniRequest, stdin: string = req.stdin): Promise<CniResult | undefined> {
  const plugin = await findPlugin(type, req.path);
  const env: Record<string, string> = { PATH: process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin' };
  for (const [k, v] of Object.entries(req.env)) if (v !== undefined) env[k] = v;
  env.CNI_COMMAND = command;
  let stdout: string;
  try {
    stdout = (await execWithEnv(plugin, stdin, env)).stdout;
  } catch (err) {
    const obj = tryParse((err as PluginFailure).stdout ?? '');
    if (obj && typeof obj.code === 'number' && typeof obj.msg === 'string') {
      throw new CniError(obj.code, `${type}: ${obj.msg}`, typeof obj.details === 'string' ? obj.details : undefined);
    }
    throw new CniError(CniCode.IO_FAILURE, `IPAM plugin ${type} ${command} failed: ${(err as Error).message}`, undefined, { cause: err });
  }
  if (command !== 'ADD') return undefined;
  const parsed = tryParse(stdout);
  if (!parsed) throw new CniError(CniCode.DECODE_FAILURE, `IPAM plugin ${type} printed no result: ${stdout.slice(0, 200)}`);
  return parseResult(parsed, `${type} result`);
}

function tryParse(text: string): Record<string, unknown> | undefined {
  try {
    const v = JSON.parse(text) as unknown;
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}

interface PluginFailure extends Error {
  stdout?: string;
}

/** Runs the plugin with exactly the given environment (nothing of the agent's own). */
function execWithEnv(cmd: string, input: string, env: Record<string, string>): Promise<{ stdout: string }> {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, [], { env, timeout: 60_000, maxBuffer: 16 * 1024 * 1024, encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) {
        const failure: PluginFailure = new Error(`${stderr.trim() || err.message}`);
        failure.stdout = stdout;
        reject(failure);
        return;
      }
      resolve({ stdout });
    });
    child.stdin?.on('error', () => undefined);
    child.stdin?.end(input);
  });
}
