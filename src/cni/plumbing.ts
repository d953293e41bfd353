/**
 * Namespace plumbing: the veth between the host and a container, wired as Calico wires it.
 *
 * Host side: `cali…` with MAC ee:ee:ee:ee:ee:ee and no address, proxy ARP (delay 0), forwarding,
 * route_localnet, and for IPv6 proxy NDP, no router advertisements and no DAD (its link-local
 * address, fe80::ecee:eeff:feee:eeee, is the container's IPv6 gateway); a /32 (/128) route per
 * container address. Container side: CNI_IFNAME with the /32 and /128, `169.254.1.1 scope link`
 * and a default route through it, and an IPv6 default route through the host side's link-local.
 *
 * Commands: an ADD's kernel work goes to the resident `margay-netlink` helper (os/netlink-helper.ts)
 * in two requests, each one round trip: the veth with the host side's sysctls and link up, then
 * the host routes with the container side (inside the container's namespace); a DEL's deletion of
 * the container's interface goes there too, and so do host-side deletions (a rollback, a
 * leftover). So an ADD or DEL starts no process at all: on a small VM a
 * process start costs 5–15 ms of CPU, more than the whole kernel work of an ADD. Other
 * operations (CHECK, VM taps) are short scripts on resident shells. Every value that goes into a
 * command is checked first ({@link checkSpec}).
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { WORKLOAD_GATEWAY_V4, WORKLOAD_HOST_LINK_LOCAL_V6, WORKLOAD_HOST_MAC, workloadInterfaceSysctls } from '../dataplane/mod.ts';
import { DeleteBatcher } from './delete-batch.ts';
import { HelperPool } from './helper-pool.ts';
import { MARGAY_ROUTE_PROTOCOL } from '../dataplane/mod.ts';
import { findNetlinkHelper, heredoc, NETLINK_HELPER, NetlinkHelper, shq, ShellPool, sysctlScript, type ScriptResult } from '../os/mod.ts';
import { quote } from '../errors/mod.ts';

/** The MAC address of every host-side workload interface. */
export const HOST_MAC = WORKLOAD_HOST_MAC;
/** The IPv4 gateway containers route through (answered by proxy ARP). */
export const GATEWAY_V4 = WORKLOAD_GATEWAY_V4;
/** The host side's IPv6 link-local address (EUI-64 of ee:ee:ee:ee:ee:ee), the containers' IPv6 gateway. */
export const GATEWAY_V6 = WORKLOAD_HOST_LINK_LOCAL_V6;

/** What one veth should look like. */
export interface VethSpec {
  hostVeth: string;
  /** The container's network namespace path. */
  netns: string;
  ifname: string;
  mtu: number;
  /** The container side's MAC. */
  containerMac: string;
  ipv4: string[];
  ipv6: string[];
}

/** A veth before it has addresses: what {@link Plumbing.createLink} needs. */
export interface LinkSpec {
  hostVeth: string;
  netns: string;
  ifname: string;
  mtu: number;
  containerMac: string;
  /** IPv6 will be configured: the host side gets its IPv6 sysctls before it goes up. */
  ipv6: boolean;
}

/** A failure of the kernel plumbing (reported as CNI error 5). */
export class PlumbingError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'PlumbingError';
  }
}

/** Options of {@link Plumbing}. */
export interface PlumbingOptions {
  /**
   * The host's network namespace: a name under /run/netns or a path. Undefined means the agent's
   * own namespace (production).
   */
  hostNetns?: string;
  /**
   * Routing protocol number of the /32 routes (0–255); default Margay's (77), so the agent's
   * route driver owns them and removes them with the endpoint.
   */
  routeProtocol?: string | number;
  /** Timeout of one script in milliseconds (default 60000; a loaded host can be slow to start processes). */
  timeoutMs?: number;
  /** Resident helper shells for scripts (default 4). */
  shells?: number;
  /** The `margay-netlink` helper binary (default: {@link findNetlinkHelper}). */
  netlinkHelper?: string;
}

/** A random locally administered unicast MAC address. */
export function randomMac(): string {
  const b = randomBytes(6);
  b[0] = (b[0]! & 0xfe) | 0x02;
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(':');
}

/**
 * The sysctls of a host-side interface (paths relative to /proc/sys): the dataplane's list, plus
 * for IPv6 no DAD and IPv6 enabled, so that its link-local gateway address works at once.
 */
export function hostSysctls(dev: string, ipv6: boolean): [string, string][] {
  const s = workloadInterfaceSysctls(dev, { ipv4: true, ipv6 });
  if (ipv6) s.unshift([`net/ipv6/conf/${dev}/disable_ipv6`, '0'], [`net/ipv6/conf/${dev}/accept_dad`, '0']);
  return s;
}

/** The `ip -batch` lines that bring the host side up and route the container's addresses to it. */
export function hostRouteBatch(spec: VethSpec, protocol: string | number): string[] {
  const lines = [`link set ${spec.hostVeth} up`];
  for (const a of spec.ipv4) lines.push(`route replace ${a}/32 dev ${spec.hostVeth} scope link proto ${protocol}`);
  for (const a of spec.ipv6) lines.push(`route replace ${a}/128 dev ${spec.hostVeth} proto ${protocol}`);
  return lines;
}

interface LinkInfo {
  ifname: string;
  address?: string;
  mtu?: number;
  flags?: string[];
  operstate?: string;
  addr_info?: { family: string; local: string; prefixlen: number }[];
}

interface RouteInfo {
  dst: string;
  gateway?: string;
  dev?: string;
  scope?: string;
}

/** What CHECK found wrong; empty when the attachment is as ADD left it. */
export type Differences = string[];

function nsPath(ns: string): string {
  return ns.includes('/') ? ns : `/run/netns/${ns}`;
}

const MISSING = /does not exist|Cannot find device|No such device|No such file|Cannot open network namespace/i;
/** Characters allowed in a namespace path that goes into commands. */
export const SAFE_PATH = /^\/[A-Za-z0-9_.\/:@+-]*$/;

/** Interface names as the kernel allows them (at most 15 characters), safe in a command line. */
const IFNAME = /^[A-Za-z0-9_.@-]{1,15}$/;

function checkIfname(name: string): void {
  if (!IFNAME.test(name)) throw new PlumbingError(`interface name ${quote(name)} is not valid`);
}

/** Throws unless every part of the spec is safe to put into a command line. */
export function checkSpec(spec: VethSpec): void {
  const bad = (what: string, v: unknown) => new PlumbingError(`refusing to plumb: ${what} ${quote(v)} is not valid`);
  for (const dev of [spec.hostVeth, spec.ifname]) if (!IFNAME.test(dev)) throw bad('interface name', dev);
  if (!SAFE_PATH.test(spec.netns)) throw bad('network namespace path', spec.netns);
  if (!/^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/.test(spec.containerMac)) throw bad('MAC address', spec.containerMac);
  if (!Number.isInteger(spec.mtu) || spec.mtu < 68 || spec.mtu > 65535) throw bad('MTU', spec.mtu);
  for (const a of spec.ipv4) if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(a)) throw bad('IPv4 address', a);
  for (const a of spec.ipv6) if (!/^[0-9a-fA-F:.]+$/.test(a) || !a.includes(':')) throw bad('IPv6 address', a);
}

/** What the CNI service needs of the kernel (a fake stands in for it in unit tests). */
export interface WorkloadPlumbing {
  netnsExists(netns: string): boolean;
  createLink(link: LinkSpec): Promise<void>;
  /**
   * The veth's addresses: the host side's routes to them (replacing any, or with `newRoutes` only
   * where there is none: "File exists" otherwise) and the container side's addresses and routes.
   */
  addAddresses(spec: VethSpec, options?: { newRoutes?: boolean }): Promise<void>;
  hostVethExists(name: string): Promise<boolean>;
  deleteHostVeth(name: string): Promise<boolean>;
  /** `hostVeth`: the name its host end must have, for deletions gathered in one batch. */
  deleteContainerInterface(netns: string, ifname: string, hostVeth?: string): Promise<boolean>;
  inspect(spec: VethSpec): Promise<Differences>;
  configureExisting(iface: string, addrs: { ipv4: string[]; ipv6: string[] }): Promise<{ mac: string; linkLocal: string | undefined }>;
  unconfigureExisting(iface: string): Promise<void>;
  /** Releases helper processes. */
  close?(): void;
}

/**
 * Helpers for container-side deletions: the first runs batches (delete-batch.ts), the others single
 * deletions in turn. Deleting an interface waits in the kernel
 * for its unregistration to finish; through one helper a burst of DELs would wait one after
 * another, and an ADD's configuration behind them. Each helper starts with its first request.
 */
const DELETE_HELPERS = 4;

/**
 * Resident `margay-netlink` helpers for ADDs (and host-side deletions), used by concurrent
 * requests (helper-pool.ts): a burst of ADDs otherwise queues behind one (20 at once: the veth
 * step's median was 42 ms, IPAM's 7 ms).
 */
const ADD_HELPERS = 3;

/** Creates, inspects and removes workload veths, through resident helpers in the host namespace. */
export class Plumbing implements WorkloadPlumbing {
  readonly #shells: ShellPool;
  readonly #helpers: HelperPool<NetlinkHelper>;
  readonly #deleters: NetlinkHelper[];
  #nextDeleter = 0;
  readonly #batcher: DeleteBatcher;
  readonly #protocol: number;
  readonly #timeoutMs: number;

  /** @throws {PlumbingError} when the `margay-netlink` helper has not been built. */
  constructor(options: PlumbingOptions = {}) {
    this.#protocol = Number(options.routeProtocol ?? MARGAY_ROUTE_PROTOCOL);
    if (!Number.isInteger(this.#protocol) || this.#protocol < 0 || this.#protocol > 255) {
      throw new PlumbingError(`routeProtocol ${quote(options.routeProtocol)} is not a routing protocol number (0–255)`);
    }
    this.#timeoutMs = options.timeoutMs ?? 60_000;
    const binary = options.netlinkHelper ?? findNetlinkHelper();
    if (binary === undefined) {
      throw new PlumbingError(`the ${NETLINK_HELPER} helper is not built: run scripts/install-deps.sh (it builds dist/cni/${NETLINK_HELPER}), or set MARGAY_NETLINK_HELPER`);
    }
    const where = options.hostNetns === undefined ? {} : { netns: nsPath(options.hostNetns) };
    this.#shells = new ShellPool({ ...where, timeoutMs: this.#timeoutMs, ...(options.shells === undefined ? {} : { size: options.shells }) });
    this.#helpers = new HelperPool(ADD_HELPERS, () => new NetlinkHelper({ binary, ...where, timeoutMs: this.#timeoutMs }));
    this.#deleters = Array.from({ length: DELETE_HELPERS }, () => new NetlinkHelper({ binary, ...where, timeoutMs: this.#timeoutMs }));
    this.#batcher = new DeleteBatcher(
      () => this.#deleters[0]!,
      (d) => this.#deleteOne(d.netns, d.ifname),
    );
  }

  close(): void {
    this.#shells.close();
    for (const h of this.#helpers.made()) h.close();
    for (const d of this.#deleters) d.close();
  }

  /** True when the network namespace path exists. */
  netnsExists(netns: string): boolean {
    return netns !== '' && existsSync(netns);
  }

  /**
   * Creates the veth: the host side up with its fixed MAC and sysctls, the container side (down,
   * no address yet) in the container's namespace. Needs no address, so it runs while IPAM
   * assigns them. A host side left by an earlier attempt at this attachment (or by the previous
   * sandbox of the same pod) is replaced, as Calico's plugin does. On failure nothing is left.
   * @throws {PlumbingError}
   */
  async createLink(link: LinkSpec): Promise<void> {
    checkSpec({ ...link, ipv4: [], ipv6: [] });
    try {
      await this.#createHostSide(link);
    } catch (err) {
      await this.deleteHostVeth(link.hostVeth).catch(() => undefined);
      throw err;
    }
  }

  async #createHostSide(link: LinkSpec): Promise<void> {
    const what = `cannot create veth ${link.hostVeth} to ${link.ifname} in ${link.netns}`;
    // One request to the helper: the veth, the host side's sysctls (with IPv6: no DAD before it
    // goes up), the host side up.
    const sysctls = hostSysctls(link.hostVeth, link.ipv6);
    const create = () =>
      this.#helpers
        .use((h) => h.createVeth({ ifname: link.hostVeth, mac: HOST_MAC, mtu: link.mtu }, { ifname: link.ifname, mac: link.containerMac, netns: link.netns }, sysctls))
        .catch((err: Error) => {
          throw new PlumbingError(`${what}: ${err.message}`, { cause: err });
        });
    let failed = await create();
    if (/File exists/.test(failed.get('veth') ?? '') && (await this.deleteHostVeth(link.hostVeth))) failed = await create();
    if (failed.size > 0) throw new PlumbingError(`${what}: ${[...failed.values()].join('; ')}`);
  }

  /**
   * Gives a veth made by {@link createLink} its addresses and routes: the host routes, and the
   * container side's addresses, gateway and default routes (both sides at once).
   * @throws {PlumbingError}
   */
  async addAddresses(spec: VethSpec, options: { newRoutes?: boolean } = {}): Promise<void> {
    checkSpec(spec);
    const what = `cannot configure veth ${spec.hostVeth}/${spec.ifname}`;
    // One request to the helper: the host side's IPv6 sysctls, its routes, the container side.
    const v6Sysctls = spec.ipv6.length > 0 ? hostSysctls(spec.hostVeth, true).filter(([k]) => k.startsWith('net/ipv6/')) : [];
    await this.#helpers
      .use((h) =>
        h.configureAttachment(spec.hostVeth, this.#protocol, v6Sysctls, { netns: spec.netns, ifname: spec.ifname }, spec, { ipv4: GATEWAY_V4, ipv6: GATEWAY_V6 }, options),
      )
      .catch((err: Error) => {
        throw new PlumbingError(`${what}: ${err.message}`, { cause: err });
      });
  }

  /** {@link createLink} then {@link addAddresses}; removes the veth when the second fails. */
  async setUp(spec: VethSpec): Promise<void> {
    checkSpec(spec);
    await this.createLink({ ...spec, ipv6: spec.ipv6.length > 0 });
    try {
      await this.addAddresses(spec);
    } catch (err) {
      await this.deleteHostVeth(spec.hostVeth).catch(() => undefined);
      throw err;
    }
  }

  /**
   * Configures an interface someone else made (a VM's tap): sysctls, link up, the routes to its
   * addresses. Its MAC is left alone; returns the IPv6 link-local address the workload should
   * use as its gateway (EUI-64 of that MAC).
   * @throws {PlumbingError} when the interface does not exist or cannot be configured.
   */
  async configureExisting(iface: string, addrs: { ipv4: string[]; ipv6: string[] }): Promise<{ mac: string; linkLocal: string | undefined }> {
    const spec: VethSpec = { hostVeth: iface, netns: '/', ifname: iface, mtu: 1500, containerMac: '02:00:00:00:00:00', ...addrs };
    checkSpec(spec);
    const v6 = addrs.ipv6.length > 0;
    const script = [
      `ip -j link show dev ${iface} </dev/null`,
      sysctlScript(hostSysctls(iface, v6)),
      heredoc('ip -batch -', hostRouteBatch(spec, this.#protocol)),
    ].join('\n');
    const r = await this.#shells.run(script).catch((err: Error) => {
      throw new PlumbingError(`cannot configure ${iface}: ${err.message}`, { cause: err });
    });
    if (r.code !== 0) throw new PlumbingError(`cannot configure interface ${iface}: ${r.output.trim()}`);
    const link = (JSON.parse(r.output.split('\n')[0] ?? '[]') as LinkInfo[])[0];
    const mac = link?.address ?? '';
    return { mac, linkLocal: v6 ? eui64LinkLocal(mac) : undefined };
  }

  /** Removes the routes {@link configureExisting} added (the interface itself stays). Idempotent. */
  async unconfigureExisting(iface: string): Promise<void> {
    checkIfname(iface);
    const p = String(this.#protocol);
    const r = await this.#shells
      .run(`ip route flush dev ${iface} proto ${p} </dev/null 2>&1 || :\nip -6 route flush dev ${iface} proto ${p} </dev/null 2>&1 || :`)
      .catch((err: Error) => {
        throw new PlumbingError(`cannot remove the routes of ${iface}: ${err.message}`, { cause: err });
      });
    if (r.code !== 0 && !MISSING.test(r.output)) throw new PlumbingError(`cannot remove the routes of ${iface}: ${r.output.trim()}`);
  }

  /** Whether a host-side interface exists. */
  async hostVethExists(name: string): Promise<boolean> {
    const r = await this.#shells.run(`ip link show dev ${shq(name)} </dev/null >/dev/null`).catch((err: Error) => {
      throw new PlumbingError(`cannot read interface ${name}: ${err.message}`, { cause: err });
    });
    if (r.code === 0) return true;
    if (MISSING.test(r.output)) return false;
    throw new PlumbingError(`cannot read interface ${name}: ${r.output.trim()}`);
  }

  /** Deletes a host-side interface (and so its peer); false when it did not exist. */
  async deleteHostVeth(name: string): Promise<boolean> {
    checkIfname(name);
    return this.#helpers.use((h) => h.deleteHostInterface(name)).catch((err: Error) => {
      throw new PlumbingError(`cannot delete interface ${name}: ${err.message}`, { cause: err });
    });
  }

  /**
   * Deletes an interface inside a container namespace; false when the namespace or interface is
   * gone. With `hostVeth` (the name of its veth's host end), deletions that arrive together are
   * deleted together (delete-batch.ts).
   */
  async deleteContainerInterface(netns: string, ifname: string, hostVeth?: string): Promise<boolean> {
    if (!this.netnsExists(netns)) return false;
    if (!SAFE_PATH.test(netns)) throw new PlumbingError(`network namespace path ${quote(netns)} is not valid`);
    checkIfname(ifname);
    if (hostVeth === undefined) return this.#deleteOne(netns, ifname);
    checkIfname(hostVeth);
    return this.#batcher.delete({ netns, ifname, hostIfname: hostVeth });
  }

  #deleteOne(netns: string, ifname: string): Promise<boolean> {
    // The first helper runs the batches; single deletions take the others in turn.
    const helper = this.#deleters[1 + (this.#nextDeleter++ % (DELETE_HELPERS - 1))]!;
    return helper.deleteInterface(netns, ifname).catch((err: Error) => {
      throw new PlumbingError(`cannot delete ${ifname} in ${netns}: ${err.message}`, { cause: err });
    });
  }

  /** Compares the kernel with what {@link setUp} makes; returns what differs. */
  async inspect(spec: VethSpec): Promise<Differences> {
    if (!this.netnsExists(spec.netns)) return [`network namespace ${spec.netns} does not exist`];
    checkSpec(spec);
    const v6 = spec.ipv6.length > 0;
    const keys = hostSysctls(spec.hostVeth, v6)
      .map(([k]) => k)
      .filter((k) => !k.endsWith('/forwarding') && !k.endsWith('/disable_ipv6'));
    const read = (dev: string) => [`address show dev ${dev}`, `route show table all dev ${dev}`];
    const [hostOut, contOut] = await Promise.all([
      this.#shells.run(
        [
          heredoc('ip -j -batch -', read(spec.hostVeth)),
          // One line per sysctl; a missing file (no interface) prints "?". (dash's `read` reports
          // failure on /proc files even when it read the value, hence `|| :`.)
          ...keys.map((k) => `v=; read -r v < /proc/sys/${k} 2>/dev/null || :; echo "\${v:-?}"`),
        ].join('\n'),
      ),
      this.#shells.run(heredoc(`nsenter --net=${shq(spec.netns)} ip -j -batch -`, read(spec.ifname))),
    ]).catch((err: Error) => {
      throw new PlumbingError(`cannot read ${spec.hostVeth}/${spec.ifname}: ${err.message}`, { cause: err });
    });
    const host = parseIface(hostOut);
    const cont = parseIface(contOut);
    const diffs: Differences = [];
    if (!host) diffs.push(`host interface ${spec.hostVeth} does not exist`);
    else {
      if (host.link.address !== HOST_MAC) diffs.push(`host interface ${spec.hostVeth} has MAC ${host.link.address}, want ${HOST_MAC}`);
      if (!host.link.flags?.includes('UP')) diffs.push(`host interface ${spec.hostVeth} is down`);
      if (host.link.mtu !== spec.mtu) diffs.push(`host interface ${spec.hostVeth} has MTU ${host.link.mtu}, want ${spec.mtu}`);
      const v4addrs = (host.link.addr_info ?? []).filter((a) => a.family === 'inet');
      if (v4addrs.length > 0) diffs.push(`host interface ${spec.hostVeth} has an IPv4 address (${v4addrs[0]!.local})`);
      for (const a of [...spec.ipv4, ...spec.ipv6]) {
        if (!host.routes.some((r) => r.dst === a && !r.gateway)) diffs.push(`no host route to ${a} via ${spec.hostVeth}`);
      }
      const values = host.rest;
      keys.forEach((key, i) => {
        const want = hostSysctls(spec.hostVeth, v6).find(([k]) => k === key)![1];
        const got = values[i];
        if (got !== want) diffs.push(`sysctl ${key.replaceAll('/', '.')} is ${got ?? 'unreadable'}, want ${want}`);
      });
    }
    if (!cont) diffs.push(`interface ${spec.ifname} does not exist in ${spec.netns}`);
    else {
      if (cont.link.address !== spec.containerMac) diffs.push(`${spec.ifname} has MAC ${cont.link.address}, want ${spec.containerMac}`);
      if (!cont.link.flags?.includes('UP')) diffs.push(`${spec.ifname} is down`);
      if (cont.link.mtu !== spec.mtu) diffs.push(`${spec.ifname} has MTU ${cont.link.mtu}, want ${spec.mtu}`);
      const addrs = (cont.link.addr_info ?? []).map((a) => `${a.local}/${a.prefixlen}`);
      for (const a of spec.ipv4) if (!addrs.includes(`${a}/32`)) diffs.push(`${spec.ifname} lacks address ${a}/32`);
      for (const a of spec.ipv6) if (!addrs.includes(`${a}/128`)) diffs.push(`${spec.ifname} lacks address ${a}/128`);
      if (spec.ipv4.length > 0) {
        if (!cont.routes.some((r) => r.dst === GATEWAY_V4 && r.scope === 'link')) diffs.push(`${spec.ifname} has no link route to ${GATEWAY_V4}`);
        if (!cont.routes.some((r) => r.dst === 'default' && r.gateway === GATEWAY_V4)) diffs.push(`${spec.ifname} has no default route via ${GATEWAY_V4}`);
      }
      if (v6 && !cont.routes.some((r) => r.dst === 'default' && r.gateway === GATEWAY_V6)) {
        diffs.push(`${spec.ifname} has no IPv6 default route via ${GATEWAY_V6}`);
      }
    }
    return diffs;
  }
}

/** The EUI-64 IPv6 link-local address of a MAC (what the kernel gives an interface with that MAC). */
export function eui64LinkLocal(mac: string): string | undefined {
  const b = mac.split(':').map((x) => parseInt(x, 16));
  if (b.length !== 6 || b.some((x) => Number.isNaN(x))) return undefined;
  b[0] = b[0]! ^ 0x02;
  const words = [(b[0]! << 8) | b[1]!, (b[2]! << 8) | 0xff, 0xfe00 | b[3]!, (b[4]! << 8) | b[5]!];
  return `fe80::${words.map((w) => w.toString(16)).join(':')}`;
}

/** Reads `ip -j -batch` output of `address show` + `route show` (then any further lines). */
function parseIface(r: ScriptResult): { link: LinkInfo; routes: RouteInfo[]; rest: string[] } | undefined {
  if (r.code !== 0 && MISSING.test(r.output)) return undefined;
  if (r.code !== 0) throw new PlumbingError(r.output.trim());
  const [linkLine, routeLine, ...rest] = r.output.split('\n').filter((l) => l.trim() !== '');
  const link = (JSON.parse(linkLine ?? '[]') as LinkInfo[])[0];
  if (!link) return undefined;
  return { link, routes: JSON.parse(routeLine ?? '[]') as RouteInfo[], rest };
}
