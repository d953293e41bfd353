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
import type { DataplaneUpdate, RouteSpec } from '../../calc/model.ts';
import type { CommandRunner } from '../exec.ts';
import { canonicalCidr, familyOf } from '../nftables/cidr.ts';

/** Margay's route protocol number (see the module comment). */
export const MARGAY_ROUTE_PROTOCOL = 77;

/** A route of our protocol as read from the kernel. */
export interface KernelRoute {
  /** Canonical destination CIDR (`10.244.0.5/32`). */
  dst: string;
  family: 4 | 6;
  /** `unicast`, `blackhole`, … */
  type: string;
  dev?: string;
}

/** Records the routes the dataplane should have. */
export class RouteManager {
  private readonly routes = new Map<string, RouteSpec>();
  private dirty = true;
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
      this.dirty = true;
    } else if (u.type === 'route-remove') {
      const dst = canonicalCidr(u.dst) ?? u.dst;
      if (this.routes.delete(dst)) this.dirty = true;
    }
  }

  /** The desired routes by canonical destination. */
  get desired(): ReadonlyMap<string, RouteSpec> {
    return this.routes;
  }

  /** True (once) when routes changed since the last call. */
  takeDirty(): boolean {
    const d = this.dirty;
    this.dirty = false;
    return d;
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
  private view: Map<string, KernelRoute> | undefined;

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
  }

  /** Forgets the view; the next apply reads the kernel. */
  invalidate(): void {
    this.view = undefined;
  }

  /** Reads our routes (both families) from the main table. */
  async read(): Promise<KernelRoute[]> {
    const out: KernelRoute[] = [];
    for (const family of [4, 6] as const) {
      const res = await this.runner(this.ip, [`-${family}`, '-j', 'route', 'show', 'table', 'main', 'proto', String(this.protocol)], {
        timeoutMs: this.timeoutMs,
      });
      const text = res.stdout.trim();
      const list = text ? (JSON.parse(text) as Array<Record<string, unknown>>) : [];
      for (const r of list) {
        const raw = String(r.dst ?? '');
        if (raw === 'default') continue;
        const dst = canonicalCidr(raw);
        if (!dst) continue;
        const route: KernelRoute = { dst, family, type: typeof r.type === 'string' ? r.type : 'unicast' };
        if (typeof r.dev === 'string' && route.type !== 'blackhole') route.dev = r.dev;
        out.push(route);
      }
    }
    return out;
  }

  private opFor(op: 'add' | 'replace', spec: RouteSpec): RouteOp {
    const proto = ['proto', String(this.protocol)];
    if (spec.type === 'blackhole') return { op, dst: spec.dst, args: ['route', op, 'blackhole', spec.dst, ...proto] };
    const scope = familyOf(spec.dst) === 4 ? ['scope', 'link'] : [];
    return { op, dst: spec.dst, args: ['route', op, spec.dst, 'dev', spec.interfaceName, ...scope, ...proto] };
  }

  private diff(desired: ReadonlyMap<string, RouteSpec>, view: Map<string, KernelRoute>): RouteOp[] {
    const ops: RouteOp[] = [];
    for (const [dst, k] of view) {
      if (!desired.has(dst)) ops.push({ op: 'del', dst, args: ['route', 'del', dst, 'proto', String(this.protocol)] });
    }
    for (const [dst, spec] of desired) {
      const k = view.get(dst);
      if (k && matches(spec, k)) continue;
      ops.push(this.opFor(k ? 'replace' : 'add', spec));
    }
    return ops;
  }

  /**
   * Brings our routes in line with `desired`. Applies all changes in one `ip -batch`; when that
   * stops at an error, re-reads and applies the rest one by one, collecting the errors (a missing
   * interface, a route of another protocol in the way) without stopping.
   */
  async apply(desired: ReadonlyMap<string, RouteSpec>, options: { full?: boolean } = {}): Promise<RouteApplyOutcome> {
    const fullSync = options.full === true || this.view === undefined;
    if (fullSync) this.view = new Map((await this.read()).map((r) => [r.dst, r]));
    const view = this.view as Map<string, KernelRoute>;
    const outcome: RouteApplyOutcome = { added: 0, replaced: 0, removed: 0, errors: [], fullSync };
    let ops = this.diff(desired, view);
    if (ops.length === 0) return outcome;
    const count = (done: RouteOp[]): void => {
      for (const o of done) {
        if (o.op === 'add') outcome.added++;
        else if (o.op === 'replace') outcome.replaced++;
        else outcome.removed++;
      }
    };
    const batch = ops.map((o) => o.args.join(' ')).join('\n') + '\n';
    const res = await this.runner(this.ip, ['-batch', '-'], { input: batch, allowFail: true, timeoutMs: this.timeoutMs });
    if (res.code === 0) {
      count(ops);
      this.commit(view, desired, ops);
      return outcome;
    }
    // Part of the batch may have been applied: start again from the kernel, one by one.
    const fresh = new Map((await this.read()).map((r) => [r.dst, r]));
    this.view = fresh;
    const first = ops;
    ops = this.diff(desired, fresh);
    const remaining = new Set(ops.map((o) => `${o.op} ${o.dst}`));
    count(first.filter((o) => !remaining.has(`${o.op} ${o.dst}`) && !(o.op === 'add' && remaining.has(`replace ${o.dst}`))));
    const done: RouteOp[] = [];
    for (const o of ops) {
      const r = await this.runner(this.ip, o.args, { allowFail: true, timeoutMs: this.timeoutMs });
      if (r.code === 0) done.push(o);
      else outcome.errors.push({ dst: o.dst, op: o.op, message: r.stderr.trim() || `ip exited with code ${r.code}` });
    }
    count(done);
    this.commit(fresh, desired, done);
    return outcome;
  }

  private commit(view: Map<string, KernelRoute>, desired: ReadonlyMap<string, RouteSpec>, done: RouteOp[]): void {
    for (const o of done) {
      if (o.op === 'del') {
        view.delete(o.dst);
        continue;
      }
      const spec = desired.get(o.dst);
      if (!spec) continue;
      const family = familyOf(o.dst) ?? 4;
      view.set(o.dst, spec.type === 'blackhole' ? { dst: o.dst, family, type: 'blackhole' } : { dst: o.dst, family, type: 'unicast', dev: spec.interfaceName });
    }
  }
}
