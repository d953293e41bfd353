/**
 * One CNI invocation as the agent receives it from the thin client: the command and the other
 * CNI_* variables (sent as `X-CNI_*` headers) and the configuration text (the body). Checks the
 * variables each command needs (error 4 when one is missing or malformed) and splits CNI_ARGS.
 */
import { CniCode, CniError } from './spec.ts';
import { quote } from '../errors/mod.ts';

/** The CNI commands. */
export const COMMANDS = ['ADD', 'DEL', 'CHECK', 'VERSION', 'GC', 'STATUS'] as const;
export type CniCommand = (typeof COMMANDS)[number];

/** The CNI_* variables of one invocation. */
export interface CniEnv {
  CNI_COMMAND?: string;
  CNI_CONTAINERID?: string;
  CNI_NETNS?: string;
  CNI_IFNAME?: string;
  CNI_ARGS?: string;
  CNI_PATH?: string;
}

/** The variables Margay forwards, in the order the client sends them. */
export const ENV_NAMES = ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME', 'CNI_ARGS', 'CNI_PATH'] as const;

/** A checked invocation. */
export interface CniRequest {
  command: CniCommand;
  /** Empty for VERSION, GC and STATUS. */
  containerId: string;
  /** The network namespace path; empty when not given (allowed for DEL). */
  netns: string;
  ifname: string;
  /** CNI_ARGS as key → value (`K8S_POD_NAME`, `IP`, …). */
  args: Record<string, string>;
  /** CNI_PATH split on `:`. */
  path: string[];
  /** The variables as received (passed on to delegated plugins). */
  env: CniEnv;
  /** The configuration text (stdin). */
  stdin: string;
}

const CONTAINER_ID = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
/** Namespace paths Margay accepts (they go into commands): /run/netns/<name>, /proc/<pid>/ns/net, … */
const NETNS_PATH = /^\/[A-Za-z0-9_.\/:@+-]*$/;

function invalid(message: string): CniError {
  return new CniError(CniCode.INVALID_ENVIRONMENT, message);
}

/** Splits CNI_ARGS (`K1=V1;K2=V2`). @throws {CniError} 4 for a pair without `=`. */
export function parseCniArgs(text: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const pair of text.split(';')) {
    if (pair === '') continue;
    const eq = pair.indexOf('=');
    if (eq <= 0) throw invalid(`CNI_ARGS: ${quote(pair)} is not KEY=VALUE`);
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}

/** True when `name` can be a Linux interface name. */
export function isValidIfname(name: string): boolean {
  return name.length > 0 && name.length <= 15 && name !== '.' && name !== '..' && !/[\s/:]/.test(name);
}

/**
 * Checks the variables of an invocation.
 * @throws {CniError} 4 when CNI_COMMAND is missing or unknown, or a variable the command needs is
 *   missing or malformed.
 */
export function parseRequest(env: CniEnv, stdin: string): CniRequest {
  const command = env.CNI_COMMAND;
  if (!command) throw invalid('CNI_COMMAND is not set');
  if (!(COMMANDS as readonly string[]).includes(command)) {
    throw invalid(`CNI_COMMAND ${quote(command)} is not one of ${COMMANDS.join(', ')}`);
  }
  const cmd = command as CniCommand;
  const perAttachment = cmd === 'ADD' || cmd === 'DEL' || cmd === 'CHECK';
  const containerId = env.CNI_CONTAINERID ?? '';
  const ifname = env.CNI_IFNAME ?? '';
  const netns = env.CNI_NETNS ?? '';
  if (perAttachment) {
    if (!containerId) throw invalid('CNI_CONTAINERID is not set');
    if (!CONTAINER_ID.test(containerId)) {
      throw invalid(`CNI_CONTAINERID ${quote(containerId)} must be letters, digits, '_', '.' or '-', starting with a letter or digit`);
    }
    if (!ifname) throw invalid('CNI_IFNAME is not set');
    if (!isValidIfname(ifname)) throw invalid(`CNI_IFNAME ${quote(ifname)} is not a valid interface name`);
    if (cmd !== 'DEL' && !netns) throw invalid('CNI_NETNS is not set');
    if (cmd !== 'DEL' && !netns.startsWith('/')) throw invalid(`CNI_NETNS ${quote(netns)} must be an absolute path`);
    if (netns !== '' && !NETNS_PATH.test(netns)) {
      throw invalid(`CNI_NETNS ${quote(netns)} must be an absolute path of letters, digits and _ . / : @ + -`);
    }
  }
  return {
    command: cmd,
    containerId,
    netns,
    ifname,
    args: parseCniArgs(env.CNI_ARGS),
    path: (env.CNI_PATH ?? '').split(':').filter(Boolean),
    env,
    stdin,
  };
}
