/**
 * The agent's CNI service: takes one forwarded invocation (the CNI_* variables and the
 * configuration text), runs the command and returns what the plugin binary must print. Never
 * throws: every failure becomes a CNI error object with its code.
 */
import { parseNetConf, type NetConf } from './config.ts';
import type { CniServiceOptions, ServiceContext } from './context.ts';
import { delegate } from './delegate.ts';
import { GcPauses } from './gc-pauses.ts';
import { attachExisting, detachExisting } from './existing.ts';
import { ipamAdd, ipamCheck, ipamDel, ipamGc } from './ipam-plugin.ts';
import { PodInfoSource } from '../kube/mod.ts';
import { KeyedLock } from './locks.ts';
import { add, check, del, gc } from './main-plugin.ts';
import { Plumbing } from './plumbing.ts';
import { parseRequest, type CniEnv, type CniRequest } from './request.ts';
import { CNI_SPEC_VERSION, CniCode, CniError, SUPPORTED_VERSIONS, toCniError } from './spec.ts';

/** Which plugin binary forwarded the request. */
export type PluginKind = 'cni' | 'ipam';

/** What the binary prints and how it exits. */
export interface CniReply {
  /** True: exit 0 and print `body` (if any). False: exit 1 and print `body`, a CNI error object. */
  ok: boolean;
  body: Record<string, unknown> | undefined;
}

/** The VERSION answer (also printed by the thin client itself). */
export function versionInfo(): Record<string, unknown> {
  return { cniVersion: CNI_SPEC_VERSION, supportedVersions: [...SUPPORTED_VERSIONS] };
}

/** The cniVersion to put in an error object: the configuration's, when it can be read. */
function versionForError(stdin: string): string {
  try {
    const v = (JSON.parse(stdin) as { cniVersion?: unknown }).cniVersion;
    if (typeof v === 'string' && /^\d{1,9}\.\d{1,9}\.\d{1,9}$/.test(v)) return v;
  } catch {
    // not JSON: the default
  }
  return CNI_SPEC_VERSION;
}

/** Serves CNI invocations for one node. */
export class CniService {
  readonly #ctx: ServiceContext;

  constructor(options: CniServiceOptions) {
    const defaultMtu = options.defaultMtu ?? 1500;
    this.#ctx = {
      options,
      plumbing:
        options.plumbing ??
        new Plumbing({
          ...(options.hostNetns !== undefined ? { hostNetns: options.hostNetns } : {}),
          ...(options.routeProtocol !== undefined ? { routeProtocol: options.routeProtocol } : {}),
        }),
      locks: new KeyedLock(),
      log: options.logger,
      mtu: (m) => (m > 0 ? m : defaultMtu),
      knownProfiles: new Set(),
      kube: options.kube ?? new PodInfoSource(),
      gcPauses: options.logger ? new GcPauses() : undefined,
    };
  }

  /**
   * An endpoint on an interface someone else created (a VM's tap): ADD or DEL as a JSON request
   * (existing.ts). Never throws: a failure is `{ok: false, body: {code, msg}}`.
   */
  async handleExisting(body: unknown): Promise<CniReply> {
    try {
      const cmd = (body as { command?: unknown } | null)?.command;
      if (cmd === 'DEL') {
        await detachExisting(this.#ctx, body);
        return { ok: true, body: undefined };
      }
      return { ok: true, body: { ...(await attachExisting(this.#ctx, body)) } };
    } catch (err) {
      return { ok: false, body: { ...toCniError(err).toObject(CNI_SPEC_VERSION) } };
    }
  }

  /** Stops the helper processes (the kernel plumbing's shells). */
  close(): void {
    this.#ctx.plumbing.close?.();
    this.#ctx.kube.close();
    this.#ctx.gcPauses?.close();
  }

  /** Runs one invocation. */
  async handle(env: CniEnv, stdin: string, plugin: PluginKind = 'cni'): Promise<CniReply> {
    let version = CNI_SPEC_VERSION;
    try {
      const req = parseRequest(env, stdin);
      if (req.command === 'VERSION') return { ok: true, body: versionInfo() };
      const conf = parseNetConf(stdin);
      version = conf.cniVersion;
      const body = await this.#run(plugin, req, conf);
      return { ok: true, body };
    } catch (err) {
      const cniErr = toCniError(err);
      if (cniErr.code === CniCode.INTERNAL) {
        this.#ctx.log?.error({ err: cniErr.message, cmd: env.CNI_COMMAND, containerID: env.CNI_CONTAINERID, stack: (err as Error).stack }, 'CNI request failed');
      }
      return { ok: false, body: { ...cniErr.toObject(version === CNI_SPEC_VERSION ? versionForError(stdin) : version) } };
    }
  }

  #run(plugin: PluginKind, req: CniRequest, conf: NetConf): Promise<Record<string, unknown> | undefined> {
    const ctx = this.#ctx;
    switch (req.command) {
      case 'ADD':
        return this.#foreground(() => (plugin === 'ipam' ? ipamAdd(ctx, req, conf) : add(ctx, req, conf)));
      case 'DEL':
        return this.#foreground(() => (plugin === 'ipam' ? ipamDel(ctx, req, conf) : del(ctx, req, conf)));
      case 'CHECK':
        return plugin === 'ipam' ? ipamCheck(ctx, req, conf) : check(ctx, req, conf);
      case 'GC':
        return plugin === 'ipam' ? ipamGc(ctx, req, conf) : gc(ctx, req, conf);
      case 'STATUS':
        return this.#status(plugin, req, conf);
      case 'VERSION':
        return Promise.resolve(versionInfo());
    }
  }

  /** Runs an ADD or DEL as foreground work (see {@link CniServiceOptions.foreground}). */
  async #foreground<T>(run: () => Promise<T>): Promise<T> {
    const end = this.#ctx.options.foreground?.();
    try {
      return await run();
    } finally {
      end?.();
    }
  }

  /** STATUS: ready when the agent is in sync and an address can be assigned. */
  async #status(plugin: PluginKind, req: CniRequest, conf: NetConf): Promise<undefined> {
    const agent = this.#ctx.options.agentStatus?.() ?? { ready: true };
    if (!agent.ready) throw new CniError(CniCode.NOT_AVAILABLE, `the margay agent is not ready: ${agent.reason ?? 'not in sync'}`);
    if (plugin === 'cni' && !conf.ipam.builtin) {
      try {
        await delegate(conf.ipam.type, 'STATUS', req);
      } catch (err) {
        const e = toCniError(err);
        // Plugins older than CNI 1.1 do not know STATUS (they answer 1, 4 or 7): nothing to learn.
        if (e.code === CniCode.NOT_AVAILABLE || e.code === CniCode.NOT_AVAILABLE_LIMITED) throw e;
      }
      return undefined;
    }
    const families = [...(conf.ipam.assignIpv4 ? [4 as const] : []), ...(conf.ipam.assignIpv6 ? [6 as const] : [])];
    let answer;
    try {
      answer = await this.#ctx.options.ipam.canAssign({
        node: this.#ctx.options.hostname,
        families,
        ...(conf.ipam.ipv4Pools ? { pools4: conf.ipam.ipv4Pools } : {}),
        ...(conf.ipam.ipv6Pools ? { pools6: conf.ipam.ipv6Pools } : {}),
      });
    } catch (err) {
      throw new CniError(CniCode.NOT_AVAILABLE, `cannot tell whether an address can be assigned: ${(err as Error).message}`);
    }
    if (!answer.ok) throw new CniError(CniCode.NOT_AVAILABLE, answer.reason);
    return undefined;
  }
}
