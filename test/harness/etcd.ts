/**
 * Real etcd servers for integration tests: one member (`startEtcd`) or a cluster
 * (`startEtcdCluster`), each in a temporary folder on free loopback ports. Every process is
 * stopped by PID and its folder removed by `destroy()`, and in any case when the process exits or
 * is interrupted, even when a test fails. `useEtcd()` registers start and destroy as
 * `before`/`after` hooks of the enclosing suite (or file). `stop`, `kill` and `restart` keep the data and the ports, so a
 * test can take etcd away and bring the same store back.
 *
 * Optional TLS: `tls: true` makes a throwaway CA, a server certificate and a client certificate
 * (openssl), and the members then require client certificates.
 */
import { spawnSync } from 'node:child_process';
import { after, before } from 'node:test';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerCleanup } from './cleanup.ts';
import { LoggedProcess } from './process.ts';
import { freePorts } from './ports.ts';

/** Client certificate files for a TLS etcd. */
export interface EtcdTlsFiles {
  caFile: string;
  certFile: string;
  keyFile: string;
}

/** Options of {@link startEtcd} and {@link startEtcdCluster}. */
export interface StartEtcdOptions {
  /** Serve clients over TLS with client-certificate authentication. Default false. */
  tls?: boolean;
  /** How long to wait for a healthy member, in milliseconds. Default 20000. */
  readyTimeoutMs?: number;
  /** Extra etcd flags, e.g. `['--auto-compaction-retention=1']`. */
  extraArgs?: string[];
}

/** One etcd member process. */
export interface EtcdMember {
  readonly name: string;
  /** The client URL, `http://127.0.0.1:<port>` (https with TLS). */
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  /** The PID of the running process; undefined while stopped. */
  readonly pid: number | undefined;
  readonly running: boolean;
  /** SIGTERM and wait for exit; data and ports are kept. */
  stop(): Promise<void>;
  /** SIGKILL and wait for exit; data and ports are kept. */
  kill(): Promise<void>;
  /** Starts the member again (stopping it first if needed) on the same data and ports. */
  restart(options?: { waitReady?: boolean }): Promise<void>;
  /** Resolves once the member answers `/health` with `true`. */
  waitReady(timeoutMs?: number): Promise<void>;
}

/** A single-member etcd started by {@link startEtcd}. */
export interface EtcdHandle extends EtcdMember {
  /** The client endpoints to give to a datastore client. */
  readonly endpoints: string[];
  /** The temporary folder holding data, logs and certificates. */
  readonly baseDir: string;
  /** Client certificate files, when started with `tls: true`. */
  readonly tls: EtcdTlsFiles | undefined;
  /** Stops the process (by PID) and removes the temporary folder. Idempotent. */
  destroy(): Promise<void>;
}

/** A cluster started by {@link startEtcdCluster}. */
export interface EtcdCluster {
  readonly endpoints: string[];
  readonly members: EtcdMember[];
  readonly baseDir: string;
  readonly tls: EtcdTlsFiles | undefined;
  /** Stops every member and removes the temporary folder. Idempotent. */
  destroy(): Promise<void>;
}

let etcdChecked = false;

function requireEtcd(): void {
  if (etcdChecked) return;
  const res = spawnSync('etcd', ['--version'], { encoding: 'utf8' });
  if (res.error || res.status !== 0) {
    throw new Error(
      'etcd is not installed or not on PATH (needed by integration tests): run scripts/install-deps.sh ' +
        '(it installs the Debian packages etcd-server and etcd-client)',
    );
  }
  etcdChecked = true;
}

function openssl(args: string[], cwd: string): void {
  const res = spawnSync('openssl', args, { cwd, encoding: 'utf8' });
  if (res.error || res.status !== 0) {
    throw new Error(`openssl ${args.join(' ')} failed: ${res.error?.message ?? res.stderr}`);
  }
}

/** Makes a CA, a server certificate for 127.0.0.1/localhost and a client certificate in `dir`. */
function makeCertificates(dir: string): { server: { cert: string; key: string }; ca: string; client: EtcdTlsFiles } {
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  openssl(['req', '-x509', ...ec, '-keyout', 'ca.key', '-out', 'ca.crt', '-days', '7', '-subj', '/CN=margay-test-ca'], dir);
  for (const [name, usage] of [
    ['server', 'serverAuth,clientAuth'],
    ['client', 'clientAuth'],
  ] as const) {
    writeFileSync(
      join(dir, `${name}.ext`),
      `subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=${usage}\nkeyUsage=digitalSignature,keyEncipherment\n`,
    );
    openssl(['req', ...ec, '-keyout', `${name}.key`, '-out', `${name}.csr`, '-subj', `/CN=margay-test-${name}`], dir);
    openssl(
      ['x509', '-req', '-in', `${name}.csr`, '-CA', 'ca.crt', '-CAkey', 'ca.key', '-CAcreateserial', '-out', `${name}.crt`, '-days', '7', '-extfile', `${name}.ext`],
      dir,
    );
  }
  return {
    ca: join(dir, 'ca.crt'),
    server: { cert: join(dir, 'server.crt'), key: join(dir, 'server.key') },
    client: { caFile: join(dir, 'ca.crt'), certFile: join(dir, 'client.crt'), keyFile: join(dir, 'client.key') },
  };
}

interface MemberConfig {
  name: string;
  baseDir: string;
  clientPort: number;
  peerPort: number;
  metricsPort: number;
  initialCluster: string;
  clusterToken: string;
  tls: { ca: string; cert: string; key: string } | undefined;
  extraArgs: string[];
  readyTimeoutMs: number;
}

class Member implements EtcdMember {
  readonly name: string;
  readonly endpoint: string;
  readonly peerUrl: string;
  readonly dataDir: string;
  readonly logFile: string;
  readonly #config: MemberConfig;
  readonly #process: LoggedProcess;

  constructor(config: MemberConfig) {
    this.#config = config;
    this.name = config.name;
    this.endpoint = `${config.tls ? 'https' : 'http'}://127.0.0.1:${config.clientPort}`;
    this.peerUrl = `http://127.0.0.1:${config.peerPort}`;
    this.dataDir = join(config.baseDir, `${config.name}.data`);
    this.logFile = join(config.baseDir, `${config.name}.log`);
    this.#process = new LoggedProcess(`etcd member ${config.name}`, 'etcd', this.#args(), this.logFile);
  }

  get pid(): number | undefined {
    return this.#process.pid;
  }

  get running(): boolean {
    return this.#process.running;
  }

  /** Starts the process; does not wait for health. */
  spawn(): void {
    this.#process.spawn();
  }

  #args(): string[] {
    const c = this.#config;
    return [
      '--name', c.name,
      '--data-dir', this.dataDir,
      '--listen-client-urls', this.endpoint,
      '--advertise-client-urls', this.endpoint,
      '--listen-peer-urls', this.peerUrl,
      '--initial-advertise-peer-urls', this.peerUrl,
      '--listen-metrics-urls', `http://127.0.0.1:${c.metricsPort}`,
      '--initial-cluster', c.initialCluster,
      '--initial-cluster-token', c.clusterToken,
      '--initial-cluster-state', 'new',
      '--logger', 'zap',
      '--log-outputs', 'stderr',
      ...(c.tls
        ? ['--cert-file', c.tls.cert, '--key-file', c.tls.key, '--trusted-ca-file', c.tls.ca, '--client-cert-auth']
        : []),
      ...c.extraArgs,
    ];
  }

  async waitReady(timeoutMs = this.#config.readyTimeoutMs): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    const url = `http://127.0.0.1:${this.#config.metricsPort}/health`;
    for (;;) {
      if (!this.#process.running) throw new Error(`etcd member ${this.name} exited while starting:\n${this.logTail()}`);
      try {
        const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
        const body = (await res.json()) as { health?: string };
        if (body.health === 'true') return;
      } catch {
        // not listening yet
      }
      if (Date.now() > deadline) {
        throw new Error(`etcd member ${this.name} not healthy after ${timeoutMs} ms:\n${this.logTail()}`);
      }
      await sleep(50);
    }
  }

  stop(): Promise<void> {
    return this.#process.stop('SIGTERM', 5000);
  }

  kill(): Promise<void> {
    return this.#process.stop('SIGKILL');
  }

  async restart(options: { waitReady?: boolean } = {}): Promise<void> {
    await this.stop();
    this.spawn();
    if (options.waitReady ?? true) await this.waitReady();
  }

  /** Synchronous SIGKILL for exit hooks. */
  killNow(): void {
    this.#process.killNow();
  }

  logTail(lines = 30): string {
    return this.#process.logTail(lines);
  }
}

async function startMembers(size: number, options: StartEtcdOptions): Promise<{
  baseDir: string;
  members: Member[];
  tls: EtcdTlsFiles | undefined;
  destroy: () => Promise<void>;
}> {
  requireEtcd();
  const baseDir = mkdtempSync(join(tmpdir(), 'margay-etcd-'));
  const members: Member[] = [];
  const undo = (): void => {
    for (const m of members) m.killNow();
    rmSync(baseDir, { recursive: true, force: true });
  };
  const runUndo = registerCleanup(undo);
  let destroyed: Promise<void> | undefined;
  const destroy = (): Promise<void> =>
    (destroyed ??= (async () => {
      await Promise.all(members.map((m) => m.stop()));
      runUndo();
    })());
  try {
    const certs = options.tls ? makeCertificates(baseDir) : undefined;
    const ports = await freePorts(size * 3);
    const names = Array.from({ length: size }, (_, i) => (size === 1 ? 'etcd' : `m${i + 1}`));
    const initialCluster = names.map((n, i) => `${n}=http://127.0.0.1:${ports[i * 3 + 1]}`).join(',');
    const token = `margay-test-${process.pid}-${Date.now()}`;
    for (let i = 0; i < size; i++) {
      members.push(
        new Member({
          name: names[i]!,
          baseDir,
          clientPort: ports[i * 3]!,
          peerPort: ports[i * 3 + 1]!,
          metricsPort: ports[i * 3 + 2]!,
          initialCluster,
          clusterToken: token,
          tls: certs ? { ca: certs.ca, cert: certs.server.cert, key: certs.server.key } : undefined,
          extraArgs: options.extraArgs ?? [],
          readyTimeoutMs: options.readyTimeoutMs ?? 20_000,
        }),
      );
    }
    for (const m of members) m.spawn();
    await Promise.all(members.map((m) => m.waitReady()));
    return { baseDir, members, tls: certs?.client, destroy };
  } catch (err) {
    await destroy();
    throw err;
  }
}

/**
 * Starts one etcd member in a temporary folder on free loopback ports and waits until it is
 * healthy. Throws with the end of etcd's log when it does not come up.
 */
export async function startEtcd(options: StartEtcdOptions = {}): Promise<EtcdHandle> {
  const { baseDir, members, tls, destroy } = await startMembers(1, options);
  const m = members[0]!;
  return {
    name: m.name,
    endpoint: m.endpoint,
    endpoints: [m.endpoint],
    peerUrl: m.peerUrl,
    dataDir: m.dataDir,
    logFile: m.logFile,
    baseDir,
    tls,
    get pid() {
      return m.pid;
    },
    get running() {
      return m.running;
    },
    stop: () => m.stop(),
    kill: () => m.kill(),
    restart: (o) => m.restart(o),
    waitReady: (t) => m.waitReady(t),
    destroy,
  };
}

/** Starts an etcd cluster of `size` members (3 by default) on loopback and waits until all are healthy. */
export async function startEtcdCluster(size = 3, options: StartEtcdOptions = {}): Promise<EtcdCluster> {
  const { baseDir, members, tls, destroy } = await startMembers(size, options);
  return { endpoints: members.map((m) => m.endpoint), members, baseDir, tls, destroy };
}

/** Runs `etcdctl` (API v3) against `endpoints`; returns stdout, throws with stderr on failure. */
export function etcdctl(endpoints: string[], args: string[], tls?: EtcdTlsFiles): string {
  const tlsArgs = tls ? ['--cacert', tls.caFile, '--cert', tls.certFile, '--key', tls.keyFile] : [];
  const res = spawnSync('etcdctl', [`--endpoints=${endpoints.join(',')}`, ...tlsArgs, ...args], {
    encoding: 'utf8',
    env: { ...process.env, ETCDCTL_API: '3' },
  });
  if (res.error || res.status !== 0) {
    throw new Error(`etcdctl ${args.join(' ')} failed: ${res.error?.message ?? res.stderr}`);
  }
  return res.stdout;
}

/**
 * Starts one etcd in a `before` hook and destroys it in an `after` hook of the enclosing suite
 * (call it at definition time: top level or in a `describe` body). The handle is available as
 * `.etcd` once the hook has run.
 */
export function useEtcd(options: StartEtcdOptions = {}): { readonly etcd: EtcdHandle } {
  let handle: EtcdHandle | undefined;
  before(async () => {
    handle = await startEtcd(options);
  });
  after(async () => {
    await handle?.destroy();
  });
  return {
    get etcd(): EtcdHandle {
      if (!handle) throw new Error('useEtcd: etcd is not started yet (use it inside tests or later hooks)');
      return handle;
    },
  };
}
