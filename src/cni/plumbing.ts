/**
 * Namespace plumbing: the veth between the host and a container, wired as Calico wires it.
 *
 * Host side: `cali…` with MAC ee:ee:ee:ee:ee:ee and no address, proxy ARP (delay 0), forwarding,
 * route_localnet, and for IPv6 proxy NDP, no router advertisements and no DAD (its link-local
 * address, fe80::ecee:eeff:feee:eeee, is the container's IPv6 gateway); a /32 (/128) route per
 * container address. Container side: CNI_IFNAME with the /32 and /128, `169.254.1.1 scope link`
 * and a default route through it, and an IPv6 default route through the host side's link-local.
 *
 * Commands: `ip -batch` per namespace, entered with `nsenter --net=<path>` (cheaper than
 * `ip netns exec`, and it takes /proc/<pid>/ns/net paths). When the host namespace is the
 * agent's own, sysctls are written to /proc/sys directly.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile, readFile } from 'node:fs/promises';
import { exec, ExecError } from '../dataplane/exec.ts';
import { WORKLOAD_GATEWAY_V4, WORKLOAD_HOST_LINK_LOCAL_V6, WORKLOAD_HOST_MAC, workloadInterfaceSysctls } from '../dataplane/links/links.ts';
import { MARGAY_ROUTE_PROTOCOL } from '../dataplane/routes/routes.ts';

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
   * Routing protocol of the /32 routes (`ip route … proto <p>`); default Margay's (77), so the
   * agent's route driver owns them and removes them with the endpoint.
   */
  routeProtocol?: string | number;
  /** Timeout of one command in milliseconds (default 60000; a loaded host can be slow to start processes). */
  timeoutMs?: number;
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

/** The `ip -batch` lines that configure the container side. */
export function containerBatch(spec: VethSpec): string[] {
  const dev = spec.ifname;
  const lines: string[] = [];
  for (const a of spec.ipv4) lines.push(`address add ${a}/32 dev ${dev}`);
  for (const a of spec.ipv6) lines.push(`address add ${a}/128 dev ${dev} nodad`);
  lines.push(`link set ${dev} up`);
  if (spec.ipv4.length > 0) {
    lines.push(`route add ${GATEWAY_V4}/32 dev ${dev} scope link`, `route add default via ${GATEWAY_V4} dev ${dev}`);
  }
  if (spec.ipv6.length > 0) lines.push(`route add default via ${GATEWAY_V6} dev ${dev}`);
  return lines;
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

function isMissing(err: unknown): boolean {
  return err instanceof ExecError && /does not exist|Cannot find device|No such device|No such file/i.test(err.stderr + err.message);
}

/** What the CNI service needs of the kernel (a fake stands in for it in unit tests). */
export interface WorkloadPlumbing {
  netnsExists(netns: string): boolean;
  setUp(spec: VethSpec): Promise<void>;
  hostVethExists(name: string): Promise<boolean>;
  deleteHostVeth(name: string): Promise<boolean>;
  deleteContainerInterface(netns: string, ifname: string): Promise<boolean>;
  inspect(spec: VethSpec): Promise<Differences>;
}

/** Creates, inspects and removes workload veths. */
export class Plumbing implements WorkloadPlumbing {
  readonly #hostNs: string | undefined;
  readonly #protocol: string | number;
  readonly #timeoutMs: number;

  constructor(options: PlumbingOptions = {}) {
    this.#hostNs = options.hostNetns === undefined ? undefined : nsPath(options.hostNetns);
    this.#protocol = options.routeProtocol ?? MARGAY_ROUTE_PROTOCOL;
    this.#timeoutMs = options.timeoutMs ?? 60_000;
  }

  /** Runs `cmd` in the host namespace. */
  #host(cmd: string, args: string[], input?: string) {
    const opts = { timeoutMs: this.#timeoutMs, ...(input === undefined ? {} : { input }) };
    return this.#hostNs ? exec('nsenter', [`--net=${this.#hostNs}`, cmd, ...args], opts) : exec(cmd, args, opts);
  }

  /** Runs `cmd` in a container's namespace. */
  #container(netns: string, cmd: string, args: string[], input?: string) {
    return exec('nsenter', [`--net=${netns}`, cmd, ...args], { timeoutMs: this.#timeoutMs, ...(input === undefined ? {} : { input }) });
  }

  async #hostSysctls(pairs: [string, string][]): Promise<void> {
    if (pairs.length === 0) return;
    if (!this.#hostNs) {
      await Promise.all(pairs.map(([k, v]) => writeFile(`/proc/sys/${k}`, v)));
      return;
    }
    await this.#host('sysctl', ['-q', '-w', ...pairs.map(([k, v]) => `${k.replaceAll('/', '.')}=${v}`)]);
  }

  async #hostSysctl(key: string): Promise<string | undefined> {
    try {
      if (!this.#hostNs) return (await readFile(`/proc/sys/${key}`, 'utf8')).trim();
      return (await this.#host('sysctl', ['-n', key.replaceAll('/', '.')])).stdout.trim();
    } catch {
      return undefined;
    }
  }

  /** True when the network namespace path exists. */
  netnsExists(netns: string): boolean {
    return netns !== '' && existsSync(netns);
  }

  /**
   * Creates the veth and configures both sides. On failure the half-made veth is removed before
   * the error is thrown.
   * @throws {PlumbingError}
   */
  async setUp(spec: VethSpec): Promise<void> {
    const v6 = spec.ipv6.length > 0;
    const create =
      `link add ${spec.hostVeth} address ${HOST_MAC} mtu ${spec.mtu} type veth ` +
      `peer name ${spec.ifname} address ${spec.containerMac} mtu ${spec.mtu} netns ${spec.netns}`;
    // With IPv6 the host side's sysctls (no DAD) must be in place before it goes up.
    const first = `${[create, ...(v6 ? [] : hostRouteBatch(spec, this.#protocol))].join('\n')}\n`;
    try {
      await this.#host('ip', ['-batch', '-'], first);
    } catch (err) {
      // A host side left by an earlier attempt at this attachment (or the previous sandbox of
      // the same pod) is replaced, as Calico's plugin does.
      const exists = err instanceof ExecError && /File exists/.test(err.stderr);
      const retried = exists && (await this.deleteHostVeth(spec.hostVeth).catch(() => false)) && (await this.#host('ip', ['-batch', '-'], first).then(() => true, () => false));
      if (!retried) {
        await this.deleteHostVeth(spec.hostVeth).catch(() => undefined);
        throw new PlumbingError(`cannot create veth ${spec.hostVeth} for ${spec.ifname} in ${spec.netns}: ${(err as Error).message}`, { cause: err });
      }
    }
    try {
      await Promise.all([
        (async () => {
          await this.#hostSysctls(hostSysctls(spec.hostVeth, v6));
          if (v6) await this.#host('ip', ['-batch', '-'], `${hostRouteBatch(spec, this.#protocol).join('\n')}\n`);
        })(),
        this.#container(spec.netns, 'ip', ['-batch', '-'], `${containerBatch(spec).join('\n')}\n`),
      ]);
    } catch (err) {
      await this.deleteHostVeth(spec.hostVeth).catch(() => undefined);
      throw new PlumbingError(`cannot configure veth ${spec.hostVeth}/${spec.ifname}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Whether a host-side interface exists. */
  async hostVethExists(name: string): Promise<boolean> {
    try {
      await this.#host('ip', ['link', 'show', 'dev', name]);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw new PlumbingError(`cannot read interface ${name}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Deletes a host-side interface (and so its peer); false when it did not exist. */
  async deleteHostVeth(name: string): Promise<boolean> {
    try {
      await this.#host('ip', ['link', 'del', 'dev', name]);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw new PlumbingError(`cannot delete interface ${name}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Deletes an interface inside a container namespace; false when the namespace or interface is gone. */
  async deleteContainerInterface(netns: string, ifname: string): Promise<boolean> {
    if (!this.netnsExists(netns)) return false;
    try {
      await this.#container(netns, 'ip', ['link', 'del', 'dev', ifname]);
      return true;
    } catch (err) {
      if (isMissing(err) || !this.netnsExists(netns)) return false;
      throw new PlumbingError(`cannot delete ${ifname} in ${netns}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** Compares the kernel with what {@link setUp} makes; returns what differs. */
  async inspect(spec: VethSpec): Promise<Differences> {
    const diffs: Differences = [];
    if (!this.netnsExists(spec.netns)) return [`network namespace ${spec.netns} does not exist`];
    const [host, cont] = await Promise.all([
      this.#readIface((input) => this.#host('ip', ['-j', '-batch', '-'], input), spec.hostVeth),
      this.#readIface((input) => this.#container(spec.netns, 'ip', ['-j', '-batch', '-'], input), spec.ifname),
    ]);
    const v6 = spec.ipv6.length > 0;
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
      for (const [key, want] of hostSysctls(spec.hostVeth, v6)) {
        if (key.endsWith('/forwarding') || key.endsWith('/disable_ipv6')) continue;
        const got = await this.#hostSysctl(key);
        if (got !== want) diffs.push(`sysctl ${key.replaceAll('/', '.')} is ${got ?? 'unreadable'}, want ${want}`);
      }
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

  async #readIface(
    run: (input: string) => Promise<{ stdout: string }>,
    dev: string,
  ): Promise<{ link: LinkInfo; routes: RouteInfo[] } | undefined> {
    let out: string;
    try {
      out = (await run(`address show dev ${dev}\nroute show table all dev ${dev}\n`)).stdout;
    } catch (err) {
      if (isMissing(err)) return undefined;
      throw new PlumbingError(`cannot read ${dev}: ${(err as Error).message}`, { cause: err });
    }
    const [linkLine, routeLine] = out.split('\n').filter((l) => l.trim() !== '');
    const links = JSON.parse(linkLine ?? '[]') as LinkInfo[];
    const link = links[0];
    if (!link) return undefined;
    return { link, routes: JSON.parse(routeLine ?? '[]') as RouteInfo[] };
  }
}
