/**
 * Health and readiness, as Felix's health aggregator does it: each part of the agent registers
 * as a reporter (whether it reports on liveness, readiness or both, and an optional timeout)
 * and reports `{live, ready, detail}` whenever its state changes or periodically. The agent is
 *
 * - live when every liveness reporter says live and none has gone silent past its timeout;
 * - ready when every readiness reporter says ready and none has gone silent past its timeout.
 *
 * A reporter that never reported counts as live and not ready. The HTTP side
 * ({@link startHealthServer}) serves `GET /liveness` and `GET /readiness` with 200 or 503 and a
 * small text table (JSON with `?format=json` or `Accept: application/json`), like Felix on
 * port 9099.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Clock } from '../os/mod.ts';
import { formatTable } from '../format/mod.ts';

/** What a reporter says. */
export interface HealthReport {
  live: boolean;
  ready: boolean;
  /** A short human explanation (e.g. why not ready). */
  detail?: string;
}

/** How a reporter takes part. */
export interface ReporterOptions {
  /** Its liveness counts (default true). */
  live?: boolean;
  /** Its readiness counts (default true). */
  ready?: boolean;
  /** Silent for longer than this (ms) counts as not live and not ready; 0 = never (default). */
  timeoutMs?: number;
}

/** One reporter's state as shown by the endpoints. */
export interface ReporterStatus {
  name: string;
  reportsLive: boolean;
  reportsReady: boolean;
  live: boolean;
  ready: boolean;
  timedOut: boolean;
  detail: string;
}

/** The aggregate. */
export interface HealthSummary {
  live: boolean;
  ready: boolean;
  reporters: ReporterStatus[];
}

interface Reporter {
  options: Required<ReporterOptions>;
  report: HealthReport;
  reportedAt: number | undefined;
}

/** Combines the reports of the agent's parts. */
export class HealthAggregator {
  readonly #clock: Clock;
  readonly #reporters = new Map<string, Reporter>();

  constructor(clock: Clock) {
    this.#clock = clock;
  }

  /** Registers a reporter (again: changes its options, keeps its last report). */
  register(name: string, options: ReporterOptions = {}): void {
    const existing = this.#reporters.get(name);
    const opts = { live: options.live ?? true, ready: options.ready ?? true, timeoutMs: options.timeoutMs ?? 0 };
    if (existing) existing.options = opts;
    else this.#reporters.set(name, { options: opts, report: { live: true, ready: false, detail: 'not reported yet' }, reportedAt: undefined });
  }

  /** Records a report; an unknown name registers it with the defaults. */
  report(name: string, report: HealthReport): void {
    if (!this.#reporters.has(name)) this.register(name);
    const r = this.#reporters.get(name)!;
    r.report = { ...report };
    r.reportedAt = this.#clock.now();
  }

  /** The aggregate now. */
  summary(): HealthSummary {
    const now = this.#clock.now();
    const reporters: ReporterStatus[] = [];
    let live = true;
    let ready = true;
    for (const [name, r] of [...this.#reporters].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
      const timedOut = r.options.timeoutMs > 0 && r.reportedAt !== undefined && now - r.reportedAt > r.options.timeoutMs;
      const rLive = r.report.live && !timedOut;
      const rReady = r.report.ready && !timedOut;
      if (r.options.live && !rLive) live = false;
      if (r.options.ready && !rReady) ready = false;
      reporters.push({
        name,
        reportsLive: r.options.live,
        reportsReady: r.options.ready,
        live: rLive,
        ready: rReady,
        timedOut,
        detail: timedOut ? `no report for ${Math.round(now - (r.reportedAt ?? now))} ms (timeout ${r.options.timeoutMs} ms)` : r.report.detail ?? '',
      });
    }
    return { live, ready, reporters };
  }

  get live(): boolean {
    return this.summary().live;
  }

  get ready(): boolean {
    return this.summary().ready;
  }
}

function yesNo(reports: boolean, value: boolean): string {
  return reports ? (value ? 'yes' : 'NO') : '-';
}

/** The text body of the health endpoints: a table of reporters. */
export function renderHealthText(summary: HealthSummary, which: 'live' | 'ready'): string {
  const ok = which === 'live' ? summary.live : summary.ready;
  const head = `${which === 'live' ? 'liveness' : 'readiness'}: ${ok ? 'ok' : 'FAILED'}\n`;
  const rows = summary.reporters.map((r) => [r.name, yesNo(r.reportsLive, r.live), yesNo(r.reportsReady, r.ready), r.detail]);
  return head + formatTable(['COMPONENT', 'LIVE', 'READY', 'DETAIL'], rows);
}

/** A listening HTTP server and how to stop it. */
export interface RunningServer {
  readonly server: Server;
  /** The address actually bound (port 0 picks a free one). */
  readonly host: string;
  readonly port: number;
  close(): Promise<void>;
}

/** Listens and resolves once bound (rejects on EADDRINUSE and the like). */
export async function listen(server: Server, host: string, port: number): Promise<RunningServer> {
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error): void => reject(err);
    server.once('error', onError);
    server.listen(port, host, () => {
      server.removeListener('error', onError);
      resolve();
    });
  });
  const addr = server.address();
  const bound = typeof addr === 'object' && addr !== null ? addr.port : port;
  return {
    server,
    host,
    port: bound,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function wantsJson(req: IncomingMessage, url: URL): boolean {
  return url.searchParams.get('format') === 'json' || (req.headers.accept ?? '').includes('application/json');
}

/** The request handler of the health endpoints (exported for tests). */
export function healthHandler(aggregator: HealthAggregator): (req: IncomingMessage, res: ServerResponse) => void {
  return (req, res) => {
    const url = new URL(req.url ?? '/', 'http://localhost');
    const which = url.pathname === '/liveness' ? 'live' : url.pathname === '/readiness' ? 'ready' : undefined;
    if (which === undefined || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try /liveness or /readiness\n');
      return;
    }
    const summary = aggregator.summary();
    const ok = which === 'live' ? summary.live : summary.ready;
    const json = wantsJson(req, url);
    const body = json ? `${JSON.stringify(summary)}\n` : renderHealthText(summary, which);
    res.writeHead(ok ? 200 : 503, { 'content-type': json ? 'application/json' : 'text/plain; charset=utf-8' });
    res.end(req.method === 'HEAD' ? undefined : body);
  };
}

/** Serves `/liveness` and `/readiness` on `host:port`. */
export function startHealthServer(aggregator: HealthAggregator, host: string, port: number): Promise<RunningServer> {
  return listen(createServer(healthHandler(aggregator)), host, port);
}
