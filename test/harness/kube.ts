/**
 * A real Kubernetes control plane for integration tests: kube-apiserver v1.20.2 on the test's etcd
 * (under its own key prefix, so Calico data beside it is untouched) on a free loopback port, and
 * kube-controller-manager (so that namespaces get their `default` ServiceAccount and deleted
 * namespaces finalize). Writes a kubeconfig; stops every process by PID and removes its folder in
 * `destroy()`, and in any case at exit. The binaries come from scripts/build-kubernetes.sh
 * (`$MARGAY_KUBE_BIN`, default /var/cache/margay/kubernetes/v1.20.2/bin).
 *
 * Tokens (static token file): `admin` (system:masters), `controllers` and `cni` (no rights until
 * a test binds a role to users `margay-kube-controllers` / `margay-cni`).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { registerCleanup } from './cleanup.ts';
import { LoggedProcess } from './process.ts';
import { freePorts } from './ports.ts';

/** Where the Kubernetes binaries are. */
export const KUBE_BIN = process.env.MARGAY_KUBE_BIN ?? '/var/cache/margay/kubernetes/v1.20.2/bin';

/** Options of {@link startKube}. */
export interface StartKubeOptions {
  /** The etcd client endpoint (http). */
  etcdEndpoint: string;
  /** Run kube-controller-manager too (default true). */
  controllerManager?: boolean;
  /** How long to wait for /healthz, ms (default 60000). */
  readyTimeoutMs?: number;
  /** Extra kube-apiserver flags. */
  apiserverArgs?: string[];
}

/** A running control plane. */
export interface KubeHandle {
  /** `https://127.0.0.1:<port>`. */
  readonly server: string;
  /** A kubeconfig for the admin token, with the server's certificate as CA. */
  readonly kubeconfig: string;
  /** Tokens: admin (system:masters), controllers, cni. */
  readonly tokens: { admin: string; controllers: string; cni: string };
  /** The server's self-signed certificate (PEM file). */
  readonly caFile: string;
  readonly dir: string;
  /** The etcd prefix the API server stores under. */
  readonly etcdPrefix: string;
  readonly apiserverPid: number | undefined;
  /** Writes a kubeconfig for `token` (optionally insecure) and returns its path. */
  writeKubeconfig(name: string, token: string, options?: { insecure?: boolean; server?: string }): string;
  /** Runs kubectl with the admin kubeconfig; returns stdout; throws with stderr on failure. */
  kubectl(args: string[], input?: string): string;
  /** Applies a manifest (YAML or JSON text) with kubectl. */
  apply(manifest: string): void;
  /** SIGTERM (or SIGKILL) the API server, keep its port; `startApiserver` brings it back. */
  stopApiserver(signal?: NodeJS.Signals): Promise<void>;
  startApiserver(): Promise<void>;
  /** Resolves when the ServiceAccount exists (made by the controller manager). */
  waitForServiceAccount(namespace: string, name?: string, timeoutMs?: number): Promise<void>;
  /** Stops everything by PID, removes the folder. Idempotent. */
  destroy(): Promise<void>;
}

function requireBinary(name: string): string {
  const path = join(KUBE_BIN, name);
  if (!existsSync(path)) {
    throw new Error(`${path} is missing (needed by the Kubernetes integration tests): run scripts/install-deps.sh, which builds it with scripts/build-kubernetes.sh`);
  }
  return path;
}

function run(cmd: string, args: string[], cwd: string): void {
  const res = spawnSync(cmd, args, { cwd, encoding: 'utf8' });
  if (res.error || res.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed: ${res.error?.message ?? res.stderr}`);
}

function kubeconfigText(server: string, token: string, caFile: string | undefined): string {
  const cluster = caFile ? `    certificate-authority: ${caFile}\n` : '    insecure-skip-tls-verify: true\n';
  return `apiVersion: v1
kind: Config
clusters:
- name: test
  cluster:
    server: ${server}
${cluster}users:
- name: test
  user:
    token: ${token}
contexts:
- name: test
  context:
    cluster: test
    user: test
current-context: test
`;
}

function healthz(server: string, token: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = https.get(`${server}/healthz`, { headers: { authorization: `Bearer ${token}` }, rejectUnauthorized: false, timeout: 2000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });
}

/** Starts kube-apiserver (and kube-controller-manager) and waits until /healthz says ok. */
export async function startKube(options: StartKubeOptions): Promise<KubeHandle> {
  const apiserverBin = requireBinary('kube-apiserver');
  const withCm = options.controllerManager ?? true;
  const cmBin = withCm ? requireBinary('kube-controller-manager') : '';
  const dir = mkdtempSync(join(tmpdir(), 'margay-kube-'));
  const procs: LoggedProcess[] = [];
  const runUndo = registerCleanup(() => {
    for (const p of procs) p.killNow();
    rmSync(dir, { recursive: true, force: true });
  });
  let destroyed: Promise<void> | undefined;
  const destroy = (): Promise<void> =>
    (destroyed ??= (async () => {
      for (const p of [...procs].reverse()) await p.stop();
      runUndo();
    })());
  try {
    run('openssl', ['genrsa', '-out', 'sa.key', '2048'], dir);
    run('openssl', ['rsa', '-in', 'sa.key', '-pubout', '-out', 'sa.pub'], dir);
    const tokens = { admin: `admin-${process.pid}-${Date.now()}`, controllers: `controllers-${process.pid}`, cni: `cni-${process.pid}` };
    writeFileSync(
      join(dir, 'tokens.csv'),
      `${tokens.admin},admin,admin,system:masters\n${tokens.controllers},margay-kube-controllers,margay-kube-controllers\n${tokens.cni},margay-cni,margay-cni\n`,
    );
    mkdirSync(join(dir, 'certs'));
    const [port] = await freePorts(1);
    const server = `https://127.0.0.1:${port}`;
    const etcdPrefix = `/kube-${process.pid}-${Date.now()}`;
    const apiserver = new LoggedProcess(
      'kube-apiserver',
      apiserverBin,
      [
        `--etcd-servers=${options.etcdEndpoint}`,
        `--etcd-prefix=${etcdPrefix}`,
        `--cert-dir=${join(dir, 'certs')}`,
        `--secure-port=${port}`,
        '--bind-address=127.0.0.1',
        '--insecure-port=0',
        `--token-auth-file=${join(dir, 'tokens.csv')}`,
        '--authorization-mode=RBAC',
        `--service-account-key-file=${join(dir, 'sa.pub')}`,
        `--service-account-signing-key-file=${join(dir, 'sa.key')}`,
        '--service-account-issuer=https://kubernetes.default.svc',
        '--service-cluster-ip-range=10.96.0.0/16',
        ...(options.apiserverArgs ?? []),
      ],
      join(dir, 'kube-apiserver.log'),
    );
    procs.push(apiserver);
    const caFile = join(dir, 'certs', 'apiserver.crt');
    const kubeconfig = join(dir, 'admin.kubeconfig');
    const waitHealthy = async (): Promise<void> => {
      const deadline = Date.now() + (options.readyTimeoutMs ?? 60_000);
      for (;;) {
        if (!apiserver.running) throw new Error(`kube-apiserver exited while starting:\n${apiserver.logTail()}`);
        try {
          if ((await healthz(server, tokens.admin)) === 'ok') return;
        } catch {
          // not listening yet
        }
        if (Date.now() > deadline) throw new Error(`kube-apiserver not healthy after ${options.readyTimeoutMs ?? 60_000} ms:\n${apiserver.logTail()}`);
        await sleep(100);
      }
    };
    apiserver.spawn();
    await waitHealthy();
    writeFileSync(kubeconfig, kubeconfigText(server, tokens.admin, caFile));
    if (withCm) {
      const cm = new LoggedProcess(
        'kube-controller-manager',
        cmBin,
        [
          `--kubeconfig=${kubeconfig}`,
          `--service-account-private-key-file=${join(dir, 'sa.key')}`,
          `--root-ca-file=${caFile}`,
          '--bind-address=127.0.0.1',
          '--secure-port=0',
          '--port=0',
          '--leader-elect=false',
          '--controllers=*',
        ],
        join(dir, 'kube-controller-manager.log'),
      );
      procs.push(cm);
      cm.spawn();
    }
    const kubectl = (args: string[], input?: string): string => {
      const res = spawnSync('kubectl', ['--kubeconfig', kubeconfig, ...args], { encoding: 'utf8', ...(input === undefined ? {} : { input }) });
      if (res.error || res.status !== 0) throw new Error(`kubectl ${args.join(' ')} failed: ${res.error?.message ?? res.stderr}`);
      return res.stdout;
    };
    const handle: KubeHandle = {
      server,
      kubeconfig,
      tokens,
      caFile,
      dir,
      etcdPrefix,
      get apiserverPid() {
        return apiserver.pid;
      },
      writeKubeconfig(name, token, o = {}) {
        const path = join(dir, `${name}.kubeconfig`);
        writeFileSync(path, kubeconfigText(o.server ?? server, token, o.insecure ? undefined : caFile));
        return path;
      },
      kubectl,
      apply(manifest) {
        kubectl(['apply', '-f', '-'], manifest);
      },
      stopApiserver: (signal) => apiserver.stop(signal),
      async startApiserver() {
        apiserver.spawn();
        await waitHealthy();
      },
      async waitForServiceAccount(namespace, name = 'default', timeoutMs = 30_000) {
        const deadline = Date.now() + timeoutMs;
        for (;;) {
          const res = spawnSync('kubectl', ['--kubeconfig', kubeconfig, '-n', namespace, 'get', 'serviceaccount', name, '-o', 'name'], { encoding: 'utf8' });
          if (res.status === 0) return;
          if (Date.now() > deadline) throw new Error(`ServiceAccount ${namespace}/${name} did not appear within ${timeoutMs} ms`);
          await sleep(200);
        }
      },
      destroy,
    };
    return handle;
  } catch (err) {
    await destroy();
    throw err;
  }
}

/**
 * Starts a control plane in a `before` hook (after `etcd()` gives the endpoint) and destroys it
 * in an `after` hook of the enclosing suite.
 */
export function useKube(etcdEndpoint: () => string, options: Omit<StartKubeOptions, 'etcdEndpoint'> = {}): { readonly kube: KubeHandle } {
  let handle: KubeHandle | undefined;
  before(async () => {
    handle = await startKube({ ...options, etcdEndpoint: etcdEndpoint() });
  });
  after(async () => {
    await handle?.destroy();
  });
  return {
    get kube(): KubeHandle {
      if (!handle) throw new Error('useKube: the control plane is not started yet');
      return handle;
    },
  };
}
