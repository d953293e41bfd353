/**
 * Builds a leaf–spine fabric's wires and starts its routers: a namespace per leaf and spine, a
 * veth per link created directly between the two namespaces (nothing in the machine's own), no
 * address on any link (IPv6 link-local only), the hosts' own addresses on their loopbacks, and
 * FRR (zebra, bgpd, bfdd) on every router.
 */
import { join } from 'node:path';
import { exec } from '../../os/mod.ts';
import { createNetns } from '../fabric.ts';
import { startFrr } from '../frr.ts';
import { processStartTime, type ProcessRecord } from '../processes.ts';
import { fabricBfddConfig, fabricBgpdConfig } from './frr-config.ts';
import type { FabricHost, FabricPlan, FabricRouter, LinkEnd } from './plan.ts';

async function ip(args: string[]): Promise<void> {
  await exec('ip', args);
}

async function sysctls(netns: string, settings: string[]): Promise<void> {
  await exec('sysctl', ['-q', '-w', ...settings], { netns });
}

/** Routers forward both families and keep IPv6 on links without addresses. */
const FORWARDING = ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1', 'net.ipv4.conf.all.rp_filter=0', 'net.ipv4.conf.default.rp_filter=0'];

/** A router's or host's namespace; hosts get their loopback addresses and the settings a host needs. */
async function buildHostNetns(netns: string, host: FabricHost): Promise<void> {
  await createNetns(netns);
  await ip(['-n', netns, 'addr', 'add', host.loopback, 'dev', 'lo']);
  if (host.loopback6) await ip(['-n', netns, 'addr', 'add', host.loopback6, 'dev', 'lo']);
  await sysctls(netns, FORWARDING);
}

/** Creates one link between two namespaces, both ends up (the kernel gives them link-local addresses). */
async function buildLink(a: LinkEnd, b: LinkEnd): Promise<void> {
  await ip(['link', 'add', a.iface, 'netns', a.netns, 'type', 'veth', 'peer', 'name', b.iface, 'netns', b.netns]);
  // No duplicate address detection: the link-local address is usable at once.
  for (const end of [a, b]) await sysctls(end.netns, [`net.ipv6.conf.${end.iface}.accept_dad=0`]);
  await ip(['-n', a.netns, 'link', 'set', a.iface, 'up']);
  await ip(['-n', b.netns, 'link', 'set', b.iface, 'up']);
}

/** Builds every namespace and link of the fabric; `hostNetns` names each host's namespace. */
export async function buildLeafSpine(plan: FabricPlan, hostNetns: (host: string) => string): Promise<void> {
  for (const r of plan.routers) {
    await createNetns(r.netns);
    await sysctls(r.netns, FORWARDING);
  }
  for (const h of plan.hosts) await buildHostNetns(hostNetns(h.name), h);
  for (const link of plan.links) await buildLink(link.a, link.b);
  // A host's default route (on its first uplink) is what makes proxy ARP answer its pods for
  // 169.254.1.1; the routes to other hosts' pods come from the fabric over BGP.
  for (const h of plan.hosts) await ip(['-n', hostNetns(h.name), 'route', 'add', 'default', 'dev', h.uplinks[0]!]);
}

/** The folder of a router's FRR. */
export function routerDir(labDir: string, router: FabricRouter): string {
  return join(labDir, 'fabric', router.name);
}

/** Starts FRR on one router; returns its daemons' records (role `frr <name>`). */
export async function startRouterFrr(labDir: string, plan: FabricPlan, router: FabricRouter): Promise<ProcessRecord[]> {
  const dir = routerDir(labDir, router);
  const frr = await startFrr({ netns: router.netns, dir, bgpd: fabricBgpdConfig(plan, router), bfdd: fabricBfddConfig() });
  return frr.pids().map((pid) => ({ role: `frr ${router.name}`, pid, startTime: processStartTime(pid) ?? '', logFile: join(dir, 'bgpd.log') }));
}

/** Sets one end of a link down (the other end loses its carrier) or up again. */
export async function setLinkEnd(end: LinkEnd, up: boolean): Promise<void> {
  await ip(['-n', end.netns, 'link', 'set', end.iface, up ? 'up' : 'down']);
}
