/**
 * Routes to local workloads (`<addr> dev <iface> scope link`) and blackholes for the host's blocks,
 * in the main table, all tagged with Margay's own route protocol number so they can be found again
 * after a restart. Routes of every other protocol (kernel, static, BIRD, DHCP, …) are never deleted
 * or replaced: a delete always names our protocol (the kernel then matches only our routes), and a
 * new route is added with `add`, which fails rather than overwrite a route someone else owns.
 *
 * Protocol number: 77 (0x4d, "M"). It is unassigned in iproute2's `rt_protos` (0–4 kernel, 8–18
 * routing daemons, 42 babel, 99 openr, 186–192 FRR) and distinct from Calico Felix's 80, so Margay
 * and a Calico node on the same machine would not take each other's routes. Configurable.
 */
import type { DataplaneUpdate, RouteSpec } from '../../calc/mod.ts';
import type { CommandRunner } from '../../os/mod.ts';
import { canonicalCidr, parseCidrOrIp } from '../../net/mod.ts';
import { batchFailures, type IpSession } from './ip-session.ts';
import type { Manager } from '../manager.ts';

/** Margay's route protocol number (see the module comment). */
export const MARGAY_ROUTE_PROTOCOL = 77;
/** How many CNI route reports the driver keeps at most (the oldest go first). */
const MAX_ROUTE_REPORTS = 10_000;

/** A route of our protocol as read from the kernel. */
export interface KernelRoute {
  /** Canonical destination CIDR (`10.244.0.5/32`). */
  dst: string;
  family: 4 | 6;
  /** `unicast`, `blackhole`, … */
  type: string;
  dev?: string;
}

/** Past this many destinations changed since the last apply, the next apply compares them all. */
const MAX_TRACKED_CHANGES = 1024;

/** Records the routes the dataplane should have. */
export class RouteManager implements Manager {
  private readonly routes = new Map<string, RouteSpec>();
  private dirty = true;
  /** The destinations changed since the last {@link takeChanges}; `all` at first and after many. */
  private changes: Set<string> | 'all' = 'all';
  private readonly warnFn: ((message: string) => void) | undefined;

  constructor(options: { warn?: (message: string) => void } = {}) {
    this.warnFn = options.warn;
  }

  /** Records a `route-update` or `route-remove`; other updates are ignored. */
  onUpdate(u: DataplaneUpdate): void {
    if (u.type === 'route-update') {
      const dst = canonicalCidr(u.route.dst);
      if (!dst) {
        this.warnFn?.(`ignoring route with invalid destination ${JSON.stringify(u.route.dst)}`);
        return;
      }
      this.routes.set(dst, { ...u.route, dst });
      this.changed(dst);
    } else if (u.type === 'route-remove') {
      const dst = canonicalCidr(u.dst) ?? u.dst;
      if (this.routes.delete(dst)) this.changed(dst);
    }
  }

  private changed(dst: string): void {
    this.dirty = true;
    if (this.changes === 'all') return;
    this.changes.add(dst);
    if (this.changes.size > MAX_TRACKED_CHANGES) this.changes = 'all';
  }

  /** Nothing to do: the routes recorded are the desired state. */
  completeDeferredWork(): void {}

  /** The desired routes by canonical destination. */
  get desired(): ReadonlyMap<string, RouteSpec> {
    return this.routes;
  }

  /** True (once) when routes changed since the last call (of this or {@link takeChanges}). */
  takeDirty(): boolean {
    return this.takeChanges() !== undefined;
  }

  /**
   * The destinations whose desired route changed since the last call (`all`: compare every one;
   * the first call, or after more than {@link MAX_TRACKED_CHANGES}), or undefined when none did:
   * an apply then compares only these with what it programmed (an ADD's route, not every route).
   */
  takeChanges(): ReadonlySet<string> | 'all' | undefined {
    if (!this.dirty) return undefined;
    const changes = this.changes;
    this.dirty = false;
    this.changes = new Set();
    return changes;
  }
}

/** One route that could not be programmed. */
export interface RouteError {
  dst: string;
  op: 'add' | 'replace' | 'del';
  message: string;
}

/** What one route apply did. */
export interface RouteApplyOutcome {
  added: number;
  replaced: number;
  removed: number;
  errors: RouteError[];
  fullSync: boolean;
}

/** Options of {@link RouteDriver}. */
export interface RouteDriverOptions {
  /** Route protocol number; default {@link MARGAY_ROUTE_PROTOCOL}. */
  protocol?: number;
  /** The ip program; default `ip`. */
  ip?: string;
  timeoutMs?: number;
  /** A resident `ip -force -batch -` for the changes (reads still go through the runner). */
  session?: IpSession;
}

interface RouteOp {
  op: 'add' | 'replace' | 'del';
  dst: string;
  args: string[];
}

function matches(spec: RouteSpec, k: KernelRoute): boolean {
  if (spec.type === 'blackhole') return k.type === 'blackhole';
  return k.type === 'unicast' && k.dev === spec.interfaceName;
}

/** Diffs desired routes against the kernel's routes of our protocol and applies the difference. */
export class RouteDriver {
  readonly protocol: number;
  private readonly ip: string;
  private readonly timeoutMs: number;
  private readonly session: IpSession | undefined;
  private view: Map<string, KernelRoute> | undefined;
  /** Workload routes someone else (the CNI) reported adding with our protocol, by destination. */
  private readonly reported = new Map<string, string>();
  /** True when the last apply completed without an error: every route then matched the view. */
  private clean = false;

  constructor(
    private readonly runner: CommandRunner,
    options: RouteDriverOptions = {},
  ) {
    this.protocol = options.protocol ?? MARGAY_ROUTE_PROTOCOL;
    if (!Number.isInteger(this.protocol) || this.protocol < 1 || this.protocol > 255) {
      throw new Error(`route protocol ${this.protocol} is not a number from 1 to 255`);
    }
    this.ip = options.ip ?? 'ip';
    this.timeoutMs = options.timeoutMs ?? 60_000;
    this.session = options.session;
  }

  /**
   * Records workload routes the CNI adds itself (`<dst> dev <dev>`, our protocol), reported when
   * it knows the addresses, before the endpoint reaches the dataplane: the driver then takes such
   * a route as in place instead of adding it (its own add would race the CNI's and meet "Cannot
   * find device", "Device for nexthop is not up" or "File exists", then re-read the kernel's
   * routes: a process start, and a failed apply when the second try met the CNI's route). An
   * ADD that fails deletes its veth, and the kernel its routes. A report is trusted only for
   * exactly that destination and interface and kept (also across a full read of the kernel's
   * routes, which may land between the report and the endpoint's flush) until the first apply
   * that wants that route has used it, or until {@link forget} (the attachment's DEL, a failed ADD);
   * at most {@link MAX_ROUTE_REPORTS}, the oldest dropped first.
   */
  learn(routes: ReadonlyArray<{ dst: string; dev: string }>): void {
    for (const r of routes) {
      const dst = canonicalCidr(r.dst);
      if (!dst) continue;
      this.reported.delete(dst); // re-reported: now the newest
      this.reported.set(dst, r.dev);
    }
    // Bounded: the oldest reports (nobody asked about them) go first, never the ADDs in flight.
    for (const dst of this.reported.keys()) {
      if (this.reported.size <= MAX_ROUTE_REPORTS) break;
      this.reported.delete(dst);
    }
  }

  /** Forgets the reports of routes through `dev` (its attachment is deleted, or its ADD failed). */
  forget(dev: string): void {
    for (const [dst, d] of this.reported) if (d === dev) this.reported.delete(dst);
  }

  /**
   * Forgets the reports of routes the desired state wants exactly as reported and that need no
   * change (already in the view, e.g. found by a full read after the CNI added them): used.
   */
  private dropReportsInPlace(desired: ReadonlyMap<string, RouteSpec>, ops: readonly RouteOp[]): void {
    if (this.reported.size === 0) return;
    const pending = new Set(ops.map((o) => o.dst));
    for (const [dst, dev] of this.reported) {
      const spec = desired.get(dst);
      if (spec?.type !== 'blackhole' && spec?.interfaceName === dev && !pending.has(dst)) this.reported.delete(dst);
    }
  }

  /** True (once) when the CNI reported adding exactly the route `op` adds (or replaces). */
  private reportedInPlace(op: RouteOp, desired: ReadonlyMap<string, RouteSpec>): boolean {
    const spec = desired.get(op.dst);
    if (op.op === 'del' || spec?.type === 'blackhole' || spec?.interfaceName !== this.reported.get(op.dst)) return false;
    this.reported.delete(op.dst);
    return true;
  }

  /**
   * True when the view holds one of our routes through one of `devs`: the kernel drops a device's
   * routes when it goes down (or is deleted and made again under the same name) without a word to
   * us, so after an event of such a device the view may be stale.
   */
  hasRoutesVia(devs: ReadonlySet<string>): boolean {
    for (const r of this.view?.values() ?? []) if (r.dev !== undefined && devs.has(r.dev)) return true;
    return false;
  }

  /** Forgets the view; the next apply reads the kernel. */
  invalidate(): void {
    this.view = undefined;
  }

  /** Reads our routes (both families at once, or the ones named) from the main table. */
  async read(families: ReadonlyArray<4 | 6> = [4, 6]): Promise<KernelRoute[]> {
    const lists = await Promise.all(families.map((family) => this.readFamily(family)));
    return lists.flat();
  }

  private async readFamily(family: 4 | 6): Promise<KernelRoute[]> {
    const res = await this.runner(this.ip, [`-${family}`, '-j', 'route', 'show', 'table', 'main', 'proto', String(this.protocol)], {
      timeoutMs: this.timeoutMs,
    });
    const text = res.stdout.trim();
    const list = text ? (JSON.parse(text) as Array<Record<string, unknown>>) : [];
    const out: KernelRoute[] = [];
    for (const r of list) {
      const raw = String(r.dst ?? '');
      if (raw === 'default') continue;
      const dst = canonicalCidr(raw);
      if (!dst) continue;
      const route: KernelRoute = { dst, family, type: typeof r.type === 'string' ? r.type : 'unicast' };
      if (typeof r.dev === 'string' && route.type !== 'blackhole') route.dev = r.dev;
      out.push(route);
    }
    return out;
  }

  private opFor(op: 'add' | 'replace', spec: RouteSpec): RouteOp {
    const proto = ['proto', String(this.protocol)];
    if (spec.type === 'blackhole') return { op, dst: spec.dst, args: ['route', op, 'blackhole', spec.dst, ...proto] };
    const scope = familyOf(spec.dst) === 4 ? ['scope', 'link'] : [];
    return { op, dst: spec.dst, args: ['route', op, spec.dst, 'dev', spec.interfaceName, ...scope, ...proto] };
  }

  /**
   * What turns `view` into `desired`: deletes first, then adds and replaces. With `only`, just
   * those destinations are compared (the others matched the view after the last apply, which
   * left no error: the same ops as comparing all).
   */
  private diff(desired: ReadonlyMap<string, RouteSpec>, view: Map<string, KernelRoute>, only?: ReadonlySet<string>): RouteOp[] {
    const ops: RouteOp[] = [];
    const del = (dst: string): void => void ops.push({ op: 'del', dst, args: ['route', 'del', dst, 'proto', String(this.protocol)] });
    const put = (dst: string, spec: RouteSpec): void => {
      const k = view.get(dst);
      if (!(k && matches(spec, k))) ops.push(this.opFor(k ? 'replace' : 'add', spec));
    };
    if (only) {
      for (const dst of only) if (view.has(dst) && !desired.has(dst)) del(dst);
      for (const dst of only) {
        const spec = desired.get(dst);
        if (spec) put(dst, spec);
      }
      return ops;
    }
    for (const dst of view.keys()) if (!desired.has(dst)) del(dst);
    for (const [dst, spec] of desired) put(dst, spec);
    return ops;
  }

  /**
   * Brings our routes in line with `desired` in one `ip -force -batch` (every line is tried, each
   * failure is reported with its line). A delete of a route that is already gone did its job, and
   * so did an add that meets a route the CNI reported adding ({@link learn}).
   * When something else failed, the view may have been stale (the CNI adds a new workload's route
   * itself, so our `add` meets "File exists"): re-read that family, and try what still differs
   * once more; what fails then is an error (a missing interface, a route of another protocol in
   * the way). `changed`: only these destinations changed since the last apply
   * (RouteManager.takeChanges); without it, with `full`, or when the last apply left an error
   * (a route pending for its device, retried now), every route is compared.
   */
  async apply(desired: ReadonlyMap<string, RouteSpec>, options: { full?: boolean; changed?: ReadonlySet<string> } = {}): Promise<RouteApplyOutcome> {
    // Only the changed destinations when the last apply left none behind (this one may not).
    const only = this.clean ? options.changed : undefined;
    this.clean = false;
    const outcome = await this.applyOnce(desired, options.full === true, only);
    this.clean = outcome.errors.length === 0;
    return outcome;
  }

  private async applyOnce(desired: ReadonlyMap<string, RouteSpec>, full: boolean, only: ReadonlySet<string> | undefined): Promise<RouteApplyOutcome> {
    const fullSync = full || this.view === undefined;
    // A full read keeps the CNI's reports: one may land between a report and the endpoint's flush.
    if (fullSync) this.view = new Map((await this.read()).map((r) => [r.dst, r]));
    const outcome: RouteApplyOutcome = { added: 0, replaced: 0, removed: 0, errors: [], fullSync };
    const view = this.view as Map<string, KernelRoute>;
    const all = this.diff(desired, view, fullSync ? undefined : only);
    this.dropReportsInPlace(desired, all);
    // Routes the CNI adds itself ({@link learn}): in place, not added here.
    const byCni = new Set(this.reported.size === 0 ? [] : all.filter((o) => this.reportedInPlace(o, desired)));
    this.commit(view, desired, [...byCni]);
    count(outcome, [...byCni]);
    const first = byCni.size === 0 ? all : all.filter((o) => !byCni.has(o));
    if (first.length === 0) return outcome;
    const failed = await this.batch(first);
    for (const [i, message] of failed) {
      if (first[i]!.op === 'del' && /No such process/.test(message)) failed.delete(i);
      // The CNI added this workload's route itself and said so: in place, no re-read.
      else if (/File exists/.test(message) && this.reportedInPlace(first[i]!, desired)) failed.delete(i);
    }
    this.commit(view, desired, first.filter((_, i) => !failed.has(i)));
    if (failed.size === 0) {
      count(outcome, first);
      return outcome;
    }
    const families = [...new Set([...failed.keys()].map((i) => parseCidrOrIp(first[i]!.dst)?.family ?? 4))];
    for (const [dst, r] of view) if (families.includes(r.family)) view.delete(dst);
    for (const r of await this.read(families)) view.set(r.dst, r);
    const second = this.diff(desired, view);
    const remaining = new Set(second.map((o) => `${o.op} ${o.dst}`));
    // Done by the first batch, or found in place (added by someone else meanwhile).
    count(outcome, first.filter((o) => !remaining.has(`${o.op} ${o.dst}`) && !(o.op === 'add' && remaining.has(`replace ${o.dst}`))));
    if (second.length === 0) return outcome;
    const failedAgain = await this.batch(second);
    for (const [i, message] of failedAgain) outcome.errors.push({ dst: second[i]!.dst, op: second[i]!.op, message });
    const done = second.filter((_, i) => !failedAgain.has(i));
    count(outcome, done);
    this.commit(view, desired, done);
    return outcome;
  }

  /** Runs ops as one `ip -force -batch -`; returns the failed ones by index, with their messages. */
  private async batch(ops: RouteOp[]): Promise<Map<number, string>> {
    const lines = ops.map((o) => o.args.join(' '));
    if (this.session) return this.session.batch(lines, this.timeoutMs);
    const res = await this.runner(this.ip, ['-force', '-batch', '-'], { input: `${lines.join('\n')}\n`, allowFail: true, timeoutMs: this.timeoutMs });
    if (res.code === 0) return new Map();
    const failed = batchFailures(res.stderr);
    if (failed.size > 0) return failed;
    // No line named (ip itself failed): every op counts as failed.
    const message = res.stderr.trim() || `ip exited with code ${res.code}`;
    return new Map(ops.map((_, i) => [i, message]));
  }

  private commit(view: Map<string, KernelRoute>, desired: ReadonlyMap<string, RouteSpec>, done: RouteOp[]): void {
    for (const o of done) {
      if (o.op === 'del') {
        view.delete(o.dst);
        // A route the CNI reported may just have been deleted (the driver's view had an older
        // one, e.g. left by an ADD cut short by a restart): no longer take it as in place.
        this.reported.delete(o.dst);
        continue;
      }
      const spec = desired.get(o.dst);
      if (!spec) continue;
      const family = familyOf(o.dst);
      view.set(o.dst, spec.type === 'blackhole' ? { dst: o.dst, family, type: 'blackhole' } : { dst: o.dst, family, type: 'unicast', dev: spec.interfaceName });
    }
  }
}

function count(outcome: RouteApplyOutcome, done: readonly RouteOp[]): void {
  for (const o of done) {
    if (o.op === 'add') outcome.added++;
    else if (o.op === 'replace') outcome.replaced++;
    else outcome.removed++;
  }
}

/** The family of a canonical destination (the desired routes' keys): no parse for 2,000 routes of a cold start. */
function familyOf(dst: string): 4 | 6 {
  return dst.includes(':') ? 6 : 4;
}
