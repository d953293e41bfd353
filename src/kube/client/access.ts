/**
 * How to reach a Kubernetes API server: a kubeconfig file (current or named context; bearer token
 * or token file, client certificate and key, CA file or data, or `insecure-skip-tls-verify`), or
 * Calico's CNI network configuration keys (`kubernetes.kubeconfig`, `kubernetes.k8s_api_root`,
 * `policy.k8s_api_root`, `policy.k8s_auth_token`, `policy.k8s_client_certificate`,
 * `policy.k8s_client_key`, `policy.k8s_certificate_authority`), with Calico's precedence: the
 * explicit keys override the kubeconfig's values.
 *
 * Errors name the file and the field (MARGAY_ERR_CONFIG); nothing is contacted here.
 */
import { readFileSync } from 'node:fs';
import { dirname, isAbsolute, resolve } from 'node:path';
import { parse } from 'yaml';
import { MargayError } from '../../errors/mod.ts';

/** Everything needed to open connections to one API server. */
export interface KubeAccess {
  /** `https://host:port` (or http), without a trailing slash. */
  server: string;
  /** PEM of the CA that signed the server's certificate. */
  ca?: string;
  /** PEM client certificate and key. */
  cert?: string;
  key?: string;
  /** Bearer token. */
  token?: string;
  /** Skip the server certificate check (tests, `insecure-skip-tls-verify: true`). */
  insecureSkipTlsVerify?: boolean;
  /** Where the settings came from, for messages (`/etc/cni/net.d/calico-kubeconfig`). */
  source: string;
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function bad(source: string, path: string, message: string): MargayError {
  return new MargayError('MARGAY_ERR_CONFIG', `${source}: ${path}: ${message}`);
}

function readText(file: string, source: string, path: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw bad(source, path, `cannot read ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function decodeData(value: unknown, source: string, path: string): string {
  if (typeof value !== 'string' || value === '') throw bad(source, path, 'must be base64-encoded PEM data');
  return Buffer.from(value, 'base64').toString('utf8');
}

/** Reads `<field>-data` (base64) or `<field>` (a path relative to the kubeconfig's folder). */
function fileOrData(entry: Obj, field: string, base: string, source: string, at: string): string | undefined {
  if (entry[`${field}-data`] !== undefined) return decodeData(entry[`${field}-data`], source, `${at}.${field}-data`);
  const file = entry[field];
  if (file === undefined || file === '') return undefined;
  if (typeof file !== 'string') throw bad(source, `${at}.${field}`, 'must be a file path');
  return readText(isAbsolute(file) ? file : resolve(base, file), source, `${at}.${field}`);
}

function named(list: unknown, name: string, source: string, what: string): { entry: Obj; index: number } {
  if (!Array.isArray(list)) throw bad(source, `${what}s`, 'must be a list');
  const index = list.findIndex((e) => isObj(e) && e.name === name);
  const item = list[index] as Obj | undefined;
  if (!item) throw bad(source, `${what}s`, `no ${what} named ${JSON.stringify(name)}`);
  const entry = item[what];
  if (!isObj(entry)) throw bad(source, `${what}s[${index}].${what}`, 'must be an object');
  return { entry, index };
}

/** Checks and normalises a server URL. */
function serverUrl(value: unknown, source: string, path: string): string {
  if (typeof value !== 'string' || value === '') throw bad(source, path, 'the API server URL is required (https://host:port)');
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    throw bad(source, path, `${JSON.stringify(value)} is not a URL (https://host:port)`);
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw bad(source, path, `${JSON.stringify(value)}: only https:// and http:// are supported`);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

/** Options of {@link loadKubeconfig}. */
export interface KubeconfigOptions {
  /** The context to use instead of `current-context`. */
  context?: string;
}

/**
 * Reads a kubeconfig file.
 * @throws {MargayError} MARGAY_ERR_CONFIG naming the file and field when it cannot be used
 *   (missing context, cluster or user; exec or auth-provider plugins, which Margay does not run).
 */
export function loadKubeconfig(file: string, options: KubeconfigOptions = {}): KubeAccess {
  const source = file;
  let doc: unknown;
  try {
    doc = parse(readText(file, source, '(file)'));
  } catch (err) {
    if (err instanceof MargayError) throw err;
    throw bad(source, '(document)', `not valid YAML: ${(err as Error).message.split('\n')[0]}`);
  }
  if (!isObj(doc)) throw bad(source, '(document)', 'must be a kubeconfig (kind: Config)');
  const base = dirname(resolve(file));
  const contextName = options.context ?? doc['current-context'];
  if (typeof contextName !== 'string' || contextName === '') throw bad(source, 'current-context', 'is not set (or pass a context)');
  const { entry: context, index: ci } = named(doc.contexts, contextName, source, 'context');
  const clusterName = context.cluster;
  if (typeof clusterName !== 'string') throw bad(source, `contexts[${ci}].context.cluster`, 'is required');
  const { entry: cluster, index: cli } = named(doc.clusters, clusterName, source, 'cluster');
  const at = `clusters[${cli}].cluster`;
  const access: KubeAccess = { server: serverUrl(cluster.server, source, `${at}.server`), source };
  const ca = fileOrData(cluster, 'certificate-authority', base, source, at);
  if (ca) access.ca = ca;
  if (cluster['insecure-skip-tls-verify'] === true) access.insecureSkipTlsVerify = true;
  const userName = context.user;
  if (typeof userName === 'string' && userName !== '') {
    const { entry: user, index: ui } = named(doc.users, userName, source, 'user');
    const uat = `users[${ui}].user`;
    for (const unsupported of ['exec', 'auth-provider', 'username', 'password']) {
      if (user[unsupported] !== undefined) throw bad(source, `${uat}.${unsupported}`, 'is not supported: use a token, a token file or a client certificate');
    }
    if (typeof user.token === 'string' && user.token !== '') access.token = user.token;
    else if (typeof user.tokenFile === 'string' && user.tokenFile !== '') {
      access.token = readText(isAbsolute(user.tokenFile) ? user.tokenFile : resolve(base, user.tokenFile), source, `${uat}.tokenFile`).trim();
    }
    const cert = fileOrData(user, 'client-certificate', base, source, uat);
    const key = fileOrData(user, 'client-key', base, source, uat);
    if ((cert === undefined) !== (key === undefined)) throw bad(source, uat, 'client-certificate and client-key must be given together');
    if (cert && key) {
      access.cert = cert;
      access.key = key;
    }
  }
  return access;
}

function optionalString(section: Obj, key: string, source: string, path: string): string | undefined {
  const v = section[key];
  if (v === undefined || v === null || v === '') return undefined;
  if (typeof v !== 'string') throw bad(source, `${path}.${key}`, 'must be a string');
  return v;
}

/**
 * The API access a CNI network configuration asks for, Calico's way; undefined when it names
 * none (the plugin then works without the Kubernetes API). `policy.k8s_api_root` may carry the
 * old `/api/v1/` suffix, which is cut off as Calico does.
 * @throws {MargayError} MARGAY_ERR_CONFIG naming the key.
 */
export function accessFromNetConf(raw: Obj, source = 'network configuration'): KubeAccess | undefined {
  const kube = isObj(raw.kubernetes) ? raw.kubernetes : {};
  const policy = isObj(raw.policy) ? raw.policy : {};
  const kubeconfig = optionalString(kube, 'kubeconfig', source, 'kubernetes');
  const policyRoot = optionalString(policy, 'k8s_api_root', source, 'policy')?.split('/api/')[0];
  const kubeRoot = optionalString(kube, 'k8s_api_root', source, 'kubernetes');
  const token = optionalString(policy, 'k8s_auth_token', source, 'policy');
  const certFile = optionalString(policy, 'k8s_client_certificate', source, 'policy');
  const keyFile = optionalString(policy, 'k8s_client_key', source, 'policy');
  const caFile = optionalString(policy, 'k8s_certificate_authority', source, 'policy');
  const root = kubeRoot ?? policyRoot;
  if (!kubeconfig && !root) return undefined;
  const access: KubeAccess = kubeconfig
    ? loadKubeconfig(kubeconfig)
    : { server: serverUrl(root, source, kubeRoot ? 'kubernetes.k8s_api_root' : 'policy.k8s_api_root'), source };
  if (root) access.server = serverUrl(root, source, kubeRoot ? 'kubernetes.k8s_api_root' : 'policy.k8s_api_root');
  if (token) access.token = token;
  if (certFile) access.cert = readText(certFile, source, 'policy.k8s_client_certificate');
  if (keyFile) access.key = readText(keyFile, source, 'policy.k8s_client_key');
  if (caFile) access.ca = readText(caFile, source, 'policy.k8s_certificate_authority');
  return access;
}

/** A key identifying the same access (for caching one client per API server and identity). */
export function accessKey(access: KubeAccess): string {
  return JSON.stringify([access.server, access.token ?? '', access.cert ?? '', access.key ?? '', access.ca ?? '', access.insecureSkipTlsVerify === true]);
}

/** Where a pod finds its service account's credentials. */
export const SERVICE_ACCOUNT_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * The access of a process running in a pod (`KUBERNETES_SERVICE_HOST`/`_PORT`, the service
 * account's token and CA), or undefined outside a cluster.
 */
export function inClusterAccess(env: NodeJS.ProcessEnv = process.env, dir = SERVICE_ACCOUNT_DIR): KubeAccess | undefined {
  const host = env.KUBERNETES_SERVICE_HOST;
  const port = env.KUBERNETES_SERVICE_PORT;
  if (!host || !port) return undefined;
  const source = `in-cluster (${dir})`;
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    token: readText(`${dir}/token`, source, 'token').trim(),
    ca: readText(`${dir}/ca.crt`, source, 'ca.crt'),
    source,
  };
}
