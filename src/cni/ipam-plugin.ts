/**
 * The `margay-ipam` plugin's commands, run inside the agent: an IPAM plugin for other main
 * plugins (`bridge`, `ptp`, `macvlan`, …). ADD assigns the attachment's addresses from the
 * agent's block IPAM (handle `<network>.<containerID>`) and returns them with their block's
 * prefix length (as Calico's `calico-ipam` does) and `ipam.routes`; DEL releases by handle; CHECK
 * confirms the handle still holds the result's addresses; GC releases the handles of this network
 * on this node whose container is not among the valid attachments.
 */
import { cidrContainsIp, parseIp } from '../net/mod.ts';
import { atLeast, type NetConf } from './config.ts';
import { Undo, type ServiceContext } from './context.ts';
import { handleFor, workloadIdentity } from './identity.ts';
import { assignAddresses, gc as mainGc } from './main-plugin.ts';
import type { CniRequest } from './request.ts';
import { formatResult, parseResult, type CniResult } from './result.ts';
import { CniCode, CniError } from './spec.ts';

/** The addresses with their block's prefix; looked up in IPAM for addresses a retried ADD kept. */
async function withBlockPrefix(ctx: ServiceContext, ips: string[], known: Map<string, string> | undefined): Promise<string[]> {
  if (ips.every((ip) => known?.has(ip))) return ips.map((ip) => known!.get(ip)!);
  const snap = await ctx.options.ipam.snapshot();
  return ips.map((ip) => {
    const parsed = parseIp(ip);
    for (const entry of snap.blocks.values()) {
      if (parsed && cidrContainsIp(entry.cidr, parsed)) return `${ip}/${entry.cidr.prefix}`;
    }
    return `${ip}/${ip.includes(':') ? 128 : 32}`;
  });
}

/** ADD. */
export async function ipamAdd(ctx: ServiceContext, req: CniRequest, conf: NetConf): Promise<Record<string, unknown>> {
  const id = workloadIdentity(req, conf, ctx.options.hostname, ctx.options.interfacePrefix);
  return ctx.locks.run([`handle:${id.handle}`], async () => {
    const undo = new Undo();
    try {
      const addrs = await assignAddresses(ctx, req, conf, id, undo);
      const ips = await withBlockPrefix(ctx, [...addrs.ipv4, ...addrs.ipv6], addrs.blockCidrs);
      const result: CniResult = { interfaces: [], ips: ips.map((address) => ({ address })), routes: conf.ipam.routes };
      if (conf.dns) result.dns = conf.dns;
      return formatResult(result, conf.cniVersion);
    } catch (err) {
      await undo.run(ctx.log);
      throw err;
    }
  });
}

/** DEL: releases the handle (idempotent). */
export async function ipamDel(ctx: ServiceContext, req: CniRequest, conf: NetConf): Promise<undefined> {
  const handle = handleFor(conf.name, req.containerId);
  await ctx.locks.run([`handle:${handle}`], () => ctx.options.ipam.releaseByHandle(handle));
  return undefined;
}

/** CHECK: the handle holds exactly the addresses of prevResult. */
export async function ipamCheck(ctx: ServiceContext, req: CniRequest, conf: NetConf): Promise<undefined> {
  if (!atLeast(conf, '0.4.0')) throw new CniError(CniCode.INCOMPATIBLE_VERSION, `CHECK needs cniVersion 0.4.0 or later (configuration has ${conf.cniVersion})`);
  if (conf.prevResult === undefined) throw new CniError(CniCode.INVALID_NETWORK_CONFIG, 'invalid network configuration: prevResult: CHECK needs the result of ADD');
  const prev = parseResult(conf.prevResult, 'prevResult');
  const handle = handleFor(conf.name, req.containerId);
  const held = (await ctx.options.ipam.ipsByHandle(handle)).sort();
  const want = prev.ips.map((ip) => ip.address.replace(/\/\d+$/, '')).sort();
  if (held.length === 0) throw new CniError(CniCode.UNKNOWN_CONTAINER, `IPAM handle ${handle} holds no address`);
  if (held.join() !== want.join()) {
    throw new CniError(CniCode.CHECK_FAILED, `IPAM handle ${handle} holds ${held.join(',')}, not ${want.join(',')}`);
  }
  return undefined;
}

/** GC: the main plugin's (this network's endpoints on this node, if any, and its handles). */
export function ipamGc(ctx: ServiceContext, req: CniRequest, conf: NetConf): Promise<undefined> {
  return mainGc(ctx, req, { ...conf, ipam: { ...conf.ipam, builtin: true } });
}
