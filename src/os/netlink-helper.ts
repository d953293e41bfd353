/**
 * The resident `margay-netlink` helper (native/netlink-helper.c, built by scripts/install-deps.sh
 * into dist/cni/): the container side of a workload's veth, the deletion of a container's
 * interface, host sysctls and nftables element batches, without starting a process per call. On a small VM a process
 * costs 5–15 ms of CPU (nsenter, then ip); a request to the helper costs a few system calls, and
 * the container side is on the critical path of every CNI ADD.
 *
 * Requests are lines of tab-separated fields, each with an id; the helper answers each on its
 * standard error as `<id> ok`, `<id> gone` or `<id> err <message>`, in order.
 */
import { existsSync } from 'node:fs';
import { findPackageFile } from './package-file.ts';
import { ResidentProcess, sentinelToken } from './resident.ts';
import { checkSysctlPath } from './shell.ts';

/** The helper's file name under dist/cni/. */
export const NETLINK_HELPER = 'margay-netlink';

/**
 * Where the helper is: `$MARGAY_NETLINK_HELPER`, else dist/cni/ of this package (from src/ or
 * from the compiled dist/src/); undefined when it has not been built.
 */
export function findNetlinkHelper(): string | undefined {
  const fromEnv = process.env.MARGAY_NETLINK_HELPER;
  if (fromEnv) return existsSync(fromEnv) ? fromEnv : undefined;
  return findPackageFile(`dist/cni/${NETLINK_HELPER}`);
}

/** The helper's answer to one request. */
type Answer = { ok: true; gone: boolean } | { ok: false; message: string };

function checkField(field: string): void {
  if (field === '' || /[\t\n]/.test(field)) throw new Error(`netlink helper field ${JSON.stringify(field)} is empty or has a tab or newline`);
}

/** Finds the answers of `ids` (in order) in the helper's standard error so far. */
function parseAnswers(stderr: string, ids: string[]): { result: Answer[]; rest: string } | undefined {
  const last = `${ids[ids.length - 1]} `;
  const at = stderr.indexOf(last);
  const end = at < 0 ? -1 : stderr.indexOf('\n', at);
  if (end < 0) return undefined;
  const lines = stderr.slice(0, end).split('\n');
  const result = ids.map((id): Answer => {
    const line = lines.find((l) => l.startsWith(`${id} `))?.slice(id.length + 1) ?? 'err no answer';
    if (line === 'ok' || line === 'gone') return { ok: true, gone: line === 'gone' };
    return { ok: false, message: line.replace(/^err /, '') };
  });
  return { result, rest: stderr.slice(end + 1) };
}

/** A list of addresses as one field: an empty field is refused (checkField), so "none" is a lone comma. */
function addressList(ips: readonly string[]): string {
  return ips.join(',') || ',';
}

/** Options of {@link NetlinkHelper}. */
export interface NetlinkHelperOptions {
  /** The helper binary (see {@link findNetlinkHelper}). */
  binary: string;
  /** The host's network namespace path; undefined for this process's own. */
  netns?: string;
  /** Per-request timeout in ms (default 30000). */
  timeoutMs?: number;
}

/** Runs requests on one resident helper; see the module comment. */
export class NetlinkHelper {
  readonly #process: ResidentProcess;
  readonly #timeoutMs: number;

  constructor(options: NetlinkHelperOptions) {
    this.#process = new ResidentProcess({ argv: [options.binary], ...(options.netns !== undefined ? { netns: options.netns } : {}) });
    this.#timeoutMs = options.timeoutMs ?? 30_000;
  }

  async #ask(requests: string[][]): Promise<Answer[]> {
    for (const r of requests) for (const f of r) checkField(f);
    const ids = requests.map(() => sentinelToken());
    const input = requests.map((r, i) => `${[ids[i], ...r].join('\t')}\n`).join('');
    return this.#process.run(() => ({ input, parse: (stderr) => parseAnswers(stderr, ids) }), this.#timeoutMs);
  }

  /**
   * Configures the container side of a veth inside `netns`: the addresses (/32, /128 without
   * DAD), the link up, a link route to the IPv4 gateway and the default routes through the
   * gateways. Throws with the helper's message.
   */
  async configureContainer(netns: string, ifname: string, addresses: { ipv4: readonly string[]; ipv6: readonly string[] }, gateways: { ipv4: string; ipv6: string }): Promise<void> {
    const list = addressList;
    const [answer] = await this.#ask([['up', netns, ifname, list(addresses.ipv4), list(addresses.ipv6), gateways.ipv4, gateways.ipv6]]);
    if (!answer!.ok) throw new Error(answer!.message);
  }

  /**
   * The host side of a workload's veth in one round trip: the veth (host end `host`, peer
   * `peer.ifname` made in `peer.netns`, both with their MAC and the MTU), the host end's sysctls,
   * then the host end up. Returns the failures by step (`veth`, `sysctls`, `up`); empty when all
   * went well. A failed veth fails the rest too.
   */
  async createVeth(
    host: { ifname: string; mac: string; mtu: number },
    peer: { ifname: string; mac: string; netns: string },
    sysctls: ReadonlyArray<readonly [string, string]>,
  ): Promise<Map<'veth' | 'sysctls' | 'up', string>> {
    for (const [path] of sysctls) checkSysctlPath(path);
    const answers = await this.#ask([
      ['veth', host.ifname, host.mac, String(host.mtu), peer.ifname, peer.mac, peer.netns],
      ...sysctls.map(([path, value]) => ['sysctl', path, value]),
      ['hostup', host.ifname],
    ]);
    const failed = new Map<'veth' | 'sysctls' | 'up', string>();
    const first = (step: 'veth' | 'sysctls' | 'up', list: Answer[]) => {
      const bad = list.find((a): a is { ok: false; message: string } => !a.ok);
      if (bad) failed.set(step, bad.message);
    };
    first('veth', answers.slice(0, 1));
    first('sysctls', answers.slice(1, -1));
    first('up', answers.slice(-1));
    return failed;
  }

  /**
   * A workload's addresses in one round trip: `sysctls` of the host end first, the host's routes
   * to the addresses through `hostIfname` (with routing protocol `protocol`), then the container
   * side as {@link configureContainer} does. With `options.newRoutes`, a route to an address that
   * has one already is not replaced (that step fails: "File exists"). Throws with the first failure.
   */
  async configureAttachment(
    hostIfname: string,
    protocol: number,
    sysctls: ReadonlyArray<readonly [string, string]>,
    container: { netns: string; ifname: string },
    addresses: { ipv4: readonly string[]; ipv6: readonly string[] },
    gateways: { ipv4: string; ipv6: string },
    options: { newRoutes?: boolean } = {},
  ): Promise<void> {
    for (const [path] of sysctls) checkSysctlPath(path);
    const list = addressList;
    const routes = ['hostroutes', hostIfname, list(addresses.ipv4), list(addresses.ipv6), String(protocol)];
    const answers = await this.#ask([
      ...sysctls.map(([path, value]) => ['sysctl', path, value]),
      options.newRoutes === true ? [...routes, 'new'] : routes,
      ['up', container.netns, container.ifname, list(addresses.ipv4), list(addresses.ipv6), gateways.ipv4, gateways.ipv6],
    ]);
    const failed = answers.flatMap((a) => (a.ok ? [] : [a.message]));
    if (failed.length > 0) throw new Error(failed.join('; '));
  }

  /**
   * Deletes several containers' veths together, in one request and one kernel unregistration:
   * each host end (the peer of `ifname` in `netns`, which must be named `hostIfname`) goes into
   * interface group `group`, then the group is deleted. Per item: `deleted`, `gone` (no
   * namespace or interface) or an error message (nothing done for it: delete it on its own).
   */
  async deleteTogether(group: number, items: ReadonlyArray<{ netns: string; ifname: string; hostIfname: string }>): Promise<('deleted' | 'gone' | { error: string })[]> {
    const answers = await this.#ask([...items.map((i) => ['mark', String(group), i.netns, i.ifname, i.hostIfname]), ['delgroup', String(group)]]);
    const deleted = answers[answers.length - 1]!;
    return items.map((_, k) => {
      const a = answers[k]!;
      if (!a.ok) return { error: a.message };
      if (a.gone) return 'gone';
      return deleted.ok ? 'deleted' : { error: deleted.message };
    });
  }

  /** Deletes an interface inside `netns`; false when the namespace or the interface is gone. */
  async deleteInterface(netns: string, ifname: string): Promise<boolean> {
    const [answer] = await this.#ask([['del', netns, ifname]]);
    if (!answer!.ok) throw new Error(answer!.message);
    return !answer!.gone;
  }

  /** Deletes an interface of the helper's namespace by name; false when there is none. */
  async deleteHostInterface(ifname: string): Promise<boolean> {
    const [answer] = await this.#ask([['hostdel', ifname]]);
    if (!answer!.ok) throw new Error(answer!.message);
    return !answer!.gone;
  }

  /** Writes sysctls (paths under /proc/sys) in the helper's namespace, each only when it differs. */
  async writeSysctls(pairs: ReadonlyArray<readonly [string, string]>): Promise<void> {
    for (const [path] of pairs) checkSysctlPath(path);
    if (pairs.length === 0) return;
    const answers = await this.#ask(pairs.map(([path, value]) => ['sysctl', path, value]));
    const failed = answers.flatMap((a) => (a.ok ? [] : [a.message]));
    if (failed.length > 0) throw new Error(`writing sysctls failed: ${failed.join('; ')}`);
  }

  /**
   * Sends one nftables netlink batch (built by the agent's dataplane) in the helper's namespace.
   * Throws with the kernel's error; the kernel applies a batch all or nothing.
   */
  async applyNftBatch(batch: Buffer): Promise<void> {
    const [answer] = await this.#ask([['nft', batch.toString('hex')]]);
    if (!answer!.ok) throw new Error(answer!.message);
  }

  /**
   * Streams the nftables netlink batches the caller appends to `path` into the kernel, each as
   * soon as it is complete, until the caller appends an NLMSG_DONE message (the helper's
   * `nftstream`); stops at the first batch the kernel refuses (the earlier ones stay applied).
   * Resolves when the stream ended; throws with the kernel's error, naming the batch.
   */
  async streamNftBatches(path: string): Promise<void> {
    const [answer] = await this.#ask([['nftstream', path]]);
    if (!answer!.ok) throw new Error(answer!.message);
  }

  /** Starts the helper now, ahead of its first request. */
  warm(): void {
    this.#process.warm();
  }

  /** Stops the helper. */
  close(): void {
    this.#process.close();
  }
}
