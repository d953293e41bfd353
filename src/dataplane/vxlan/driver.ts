/**
 * The VXLAN driver: brings the kernel in line with a {@link VxlanPlan} (the VXLAN resolver's,
 * src/calc/vxlan-resolver.ts, which the VXLAN manager keeps). It reads what is there
 * (device, addresses, neighbour and FDB entries of the device, routes of protocol 78) and changes
 * only the difference, so a restarted agent keeps forwarding. It touches nothing else: only the
 * devices `vxlan.margay` / `vxlan-v6.margay`, their entries, and routes of its own protocol.
 */
import type { VxlanDevicePlan, VxlanPlan, VxlanRoutePlan } from '../../calc/mod.ts';
import { VXLAN_DEVICE_V4, VXLAN_DEVICE_V6 } from '../../calc/mod.ts';
import type { CommandRunner } from '../../os/mod.ts';

/** Route protocol of VXLAN routes: 78 (0x4e), next to the agent's 77 and unassigned in rt_protos. */
export const MARGAY_VXLAN_ROUTE_PROTOCOL = 78;
/** Bytes of VXLAN encapsulation: 50 over IPv4, 70 over IPv6. */
export const VXLAN_OVERHEAD = { 4: 50, 6: 70 } as const;

/** Options of {@link VxlanDriver}. */
export interface VxlanDriverOptions {
  /** Runs `ip` and `bridge` (in the host's namespace). */
  runner: CommandRunner;
  /** Device MTU; default: the MTU of the interface holding the underlay address, minus 50 (70 for IPv6). */
  mtu?: number;
  /** Route protocol number (default 78). */
  protocol?: number;
}

/** What one apply did. */
export interface VxlanApplyOutcome {
  /** Kernel changes made. */
  changes: number;
  /** Commands that failed (the rest was still applied). */
  errors: string[];
  /** The plan was the same as the last one applied: nothing was read or changed. */
  skipped: boolean;
}

interface LinkJson {
  ifname: string;
  mtu?: number;
  address?: string;
  flags?: string[];
  linkinfo?: { info_kind?: string; info_data?: { id?: number; local?: string; port?: number; learning?: boolean } };
  addr_info?: { family?: string; local?: string; prefixlen?: number; scope?: string }[];
}

function json<T>(text: string): T[] {
  const t = text.trim();
  return t ? (JSON.parse(t) as T[]) : [];
}

function hostCidr(ip: string, family: 4 | 6): string {
  return `${ip}/${family === 4 ? 32 : 128}`;
}

/** Programs VXLAN devices, VTEP entries and routes. */
export class VxlanDriver {
  readonly #run: CommandRunner;
  readonly #mtu: number | undefined;
  readonly protocol: number;
  #last: string | undefined;

  constructor(options: VxlanDriverOptions) {
    this.#run = options.runner;
    this.#mtu = options.mtu;
    this.protocol = options.protocol ?? MARGAY_VXLAN_ROUTE_PROTOCOL;
  }

  /** Applies `plan`; unchanged plans are skipped unless `force` (a periodic resync). */
  async apply(plan: VxlanPlan, options: { force?: boolean } = {}): Promise<VxlanApplyOutcome> {
    const key = JSON.stringify({ d: plan.devices, v: plan.vteps, r: plan.routes, a: plan.absent });
    if (!options.force && key === this.#last) return { changes: 0, errors: [], skipped: true };
    const outcome: VxlanApplyOutcome = { changes: 0, errors: [], skipped: false };
    for (const family of [4, 6] as const) {
      const device = plan.devices.find((d) => d.family === family);
      const name = family === 4 ? VXLAN_DEVICE_V4 : VXLAN_DEVICE_V6;
      const routes = plan.routes.filter((r) => r.family === family);
      try {
        if (!device) {
          await this.#removeDevice(name, outcome);
          await this.#syncRoutes(family, [], outcome);
          continue;
        }
        const ok = await this.#syncDevice(device, outcome);
        if (!ok) continue;
        await this.#syncNeighbours(device, plan, outcome);
        await this.#syncFdb(device, plan, outcome);
        await this.#syncRoutes(family, routes, outcome);
      } catch (err) {
        outcome.errors.push(`IPv${family}: ${(err as Error).message}`);
      }
    }
    this.#last = outcome.errors.length === 0 ? key : undefined;
    return outcome;
  }

  /** Removes both devices and every route of the protocol (the host leaves VXLAN). */
  async removeAll(): Promise<VxlanApplyOutcome> {
    return this.apply({ devices: [], vteps: [], routes: [], absent: [4, 6], warnings: [] }, { force: true });
  }

  async #cmd(outcome: VxlanApplyOutcome, cmd: string, args: string[]): Promise<boolean> {
    const res = await this.#run(cmd, args, { allowFail: true });
    if (res.code === 0) {
      outcome.changes++;
      return true;
    }
    outcome.errors.push(`${cmd} ${args.join(' ')}: ${res.stderr.trim() || `exit ${res.code}`}`);
    return false;
  }

  async #link(name: string): Promise<LinkJson | undefined> {
    const res = await this.#run('ip', ['-j', '-d', 'addr', 'show', 'dev', name], { allowFail: true });
    if (res.code !== 0) return undefined;
    return json<LinkJson>(res.stdout)[0];
  }

  async #removeDevice(name: string, outcome: VxlanApplyOutcome): Promise<void> {
    if (await this.#link(name)) await this.#cmd(outcome, 'ip', ['link', 'del', name]);
  }

  async #underlayMtu(localIp: string): Promise<number | undefined> {
    const res = await this.#run('ip', ['-j', 'addr', 'show'], { allowFail: true });
    if (res.code !== 0) return undefined;
    for (const l of json<LinkJson>(res.stdout)) {
      if ((l.addr_info ?? []).some((a) => a.local === localIp)) return l.mtu;
    }
    return undefined;
  }

  async #syncDevice(d: VxlanDevicePlan, outcome: VxlanApplyOutcome): Promise<boolean> {
    let link = await this.#link(d.name);
    const data = link?.linkinfo?.info_data;
    const wrongKind =
      link !== undefined &&
      (link.linkinfo?.info_kind !== 'vxlan' || data?.id !== d.vni || data?.local !== d.localIp || data?.port !== d.port || data?.learning !== false);
    if (wrongKind) {
      await this.#cmd(outcome, 'ip', ['link', 'del', d.name]);
      link = undefined;
    }
    if (!link) {
      const args = ['link', 'add', d.name, 'type', 'vxlan', 'id', String(d.vni), 'local', d.localIp, 'dstport', String(d.port), 'nolearning'];
      let res = await this.#run('ip', args, { allowFail: true });
      // The first use of the vxlan module may load it and still fail: try once more.
      if (res.code !== 0 && /Unknown device type/.test(res.stderr)) res = await this.#run('ip', args, { allowFail: true });
      if (res.code !== 0) {
        outcome.errors.push(`ip ${args.join(' ')}: ${res.stderr.trim()}`);
        return false;
      }
      outcome.changes++;
      link = await this.#link(d.name);
      if (!link) {
        outcome.errors.push(`${d.name} was created but cannot be read`);
        return false;
      }
    }
    const parentMtu = this.#mtu === undefined ? await this.#underlayMtu(d.localIp) : undefined;
    const mtu = this.#mtu ?? (parentMtu !== undefined ? parentMtu - VXLAN_OVERHEAD[d.family] : undefined);
    const set: string[] = [];
    if (link.address?.toLowerCase() !== d.mac) set.push('address', d.mac);
    if (mtu !== undefined && link.mtu !== mtu) set.push('mtu', String(mtu));
    if (!(link.flags ?? []).includes('UP')) set.push('up');
    if (set.length > 0 && !(await this.#cmd(outcome, 'ip', ['link', 'set', d.name, ...set]))) return false;
    // Exactly one global address of the family: the tunnel address.
    const want = hostCidr(d.tunnelIp, d.family);
    const fam = d.family === 4 ? 'inet' : 'inet6';
    const have = (link.addr_info ?? []).filter((a) => a.family === fam && a.scope !== 'link').map((a) => `${a.local}/${a.prefixlen}`);
    for (const a of have) if (a !== want) await this.#cmd(outcome, 'ip', ['addr', 'del', a, 'dev', d.name]);
    if (!have.includes(want)) await this.#cmd(outcome, 'ip', ['addr', 'add', want, 'dev', d.name, ...(d.family === 6 ? ['nodad'] : [])]);
    return true;
  }

  async #syncNeighbours(d: VxlanDevicePlan, plan: VxlanPlan, outcome: VxlanApplyOutcome): Promise<void> {
    const want = new Map(plan.vteps.filter((v) => v.family === d.family).map((v) => [v.tunnelIp, v.mac]));
    const res = await this.#run('ip', [`-${d.family}`, '-j', 'neigh', 'show', 'dev', d.name]);
    const have = new Map<string, string>();
    for (const n of json<{ dst: string; lladdr?: string; state?: string[] }>(res.stdout)) {
      if ((n.state ?? []).includes('PERMANENT')) have.set(n.dst, (n.lladdr ?? '').toLowerCase());
      else if (want.has(n.dst)) have.set(n.dst, '');
    }
    for (const [ip] of have) if (!want.has(ip)) await this.#cmd(outcome, 'ip', ['neigh', 'del', ip, 'dev', d.name]);
    for (const [ip, mac] of want) {
      if (have.get(ip) !== mac) await this.#cmd(outcome, 'ip', ['neigh', 'replace', ip, 'lladdr', mac, 'dev', d.name, 'nud', 'permanent']);
    }
  }

  async #syncFdb(d: VxlanDevicePlan, plan: VxlanPlan, outcome: VxlanApplyOutcome): Promise<void> {
    const want = new Map(plan.vteps.filter((v) => v.family === d.family).map((v) => [v.mac, v.nodeIp]));
    const res = await this.#run('bridge', ['-j', 'fdb', 'show', 'dev', d.name]);
    const have: { mac: string; dst: string }[] = [];
    for (const e of json<{ mac: string; dst?: string }>(res.stdout)) {
      if (e.dst) have.push({ mac: e.mac.toLowerCase(), dst: e.dst });
    }
    for (const e of have) {
      if (want.get(e.mac) !== e.dst) await this.#cmd(outcome, 'bridge', ['fdb', 'del', e.mac, 'dev', d.name, 'dst', e.dst, 'self']);
    }
    for (const [mac, dst] of want) {
      if (!have.some((e) => e.mac === mac && e.dst === dst)) await this.#cmd(outcome, 'bridge', ['fdb', 'replace', mac, 'dev', d.name, 'dst', dst, 'self', 'permanent']);
    }
  }

  async #syncRoutes(family: 4 | 6, routes: VxlanRoutePlan[], outcome: VxlanApplyOutcome): Promise<void> {
    const proto = String(this.protocol);
    const res = await this.#run('ip', [`-${family}`, '-j', 'route', 'show', 'table', 'main', 'proto', proto]);
    const have = new Map<string, { gateway?: string; dev?: string }>();
    for (const r of json<{ dst: string; gateway?: string; dev?: string }>(res.stdout)) {
      const dst = r.dst.includes('/') ? r.dst : hostCidr(r.dst, family);
      have.set(dst, r);
    }
    const want = new Map(routes.map((r) => [r.dst, r]));
    for (const [dst] of have) if (!want.has(dst)) await this.#cmd(outcome, 'ip', [`-${family}`, 'route', 'del', dst, 'proto', proto]);
    for (const [dst, r] of want) {
      const h = have.get(dst);
      if (h && h.gateway === r.via && (r.dev === undefined || h.dev === r.dev)) continue;
      const dev = r.dev !== undefined ? ['dev', r.dev, 'onlink'] : [];
      await this.#cmd(outcome, 'ip', [`-${family}`, 'route', 'replace', dst, 'via', r.via, ...dev, 'proto', proto]);
    }
  }
}
