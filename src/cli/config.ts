/**
 * Client configuration, as calicoctl reads it: a `kind: CalicoAPIConfig` file (`-c`, default
 * /etc/margay/margay.cfg, then /etc/calico/calicoctl.cfg) or the environment (DATASTORE_TYPE,
 * ETCD_ENDPOINTS, ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE). The environment wins
 * over defaults; an explicit `-c` file wins over the environment, as in calicoctl.
 * MARGAY_DATASTORE_TIMEOUT (a Margay extension) sets the per-request timeout in every case.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { parseGoDuration } from '../api/mod.ts';
import { formatPath } from '../api/mod.ts';
import type { DatastoreConfig } from '../datastore/mod.ts';
import { MargayError } from '../errors/mod.ts';

/** Default configuration files, first found wins. */
export const DEFAULT_CONFIG_FILES = ['/etc/margay/margay.cfg', '/etc/calico/calicoctl.cfg'];

const apiConfigSchema = z.strictObject({
  apiVersion: z.literal('projectcalico.org/v3'),
  kind: z.literal('CalicoAPIConfig'),
  metadata: z.record(z.string(), z.unknown()).optional(),
  spec: z.strictObject({
    datastoreType: z.enum(['etcdv3', 'memory']).default('etcdv3'),
    etcdEndpoints: z.string().optional(),
    etcdCACertFile: z.string().optional(),
    etcdCertFile: z.string().optional(),
    etcdKeyFile: z.string().optional(),
  }),
});

function splitEndpoints(text: string): string[] {
  return text.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
}

function fromFile(file: string): DatastoreConfig {
  let raw: unknown;
  try {
    raw = parse(readFileSync(file, 'utf8'));
  } catch (err) {
    throw new MargayError('MARGAY_ERR_CONFIG', `${file}: cannot read the client configuration: ${(err as Error).message.split('\n')[0]}`);
  }
  const parsed = apiConfigSchema.safeParse(raw);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new MargayError('MARGAY_ERR_CONFIG', `${file}: ${formatPath(issue.path) || '(document)'}: ${issue.message}`);
  }
  const spec = parsed.data.spec;
  if (spec.datastoreType === 'memory') return { type: 'memory' };
  return etcdConfig(spec.etcdEndpoints, spec.etcdCACertFile, spec.etcdCertFile, spec.etcdKeyFile);
}

/** An etcd configuration; endpoints default to the local etcd, as calicoctl's do. */
function etcdConfig(endpoints: string | undefined, ca: string | undefined, cert: string | undefined, key: string | undefined): DatastoreConfig {
  return {
    type: 'etcdv3',
    etcdEndpoints: splitEndpoints(endpoints ?? 'http://127.0.0.1:2379'),
    etcdCACertFile: ca,
    etcdCertFile: cert,
    etcdKeyFile: key,
  };
}

function fromEnvironment(env: NodeJS.ProcessEnv): DatastoreConfig {
  const type = env.DATASTORE_TYPE ?? 'etcdv3';
  if (type === 'memory') return { type: 'memory' };
  if (type !== 'etcdv3') {
    throw new MargayError('MARGAY_ERR_CONFIG', `DATASTORE_TYPE "${type}" is not supported (allowed: etcdv3, memory)`);
  }
  return etcdConfig(env.ETCD_ENDPOINTS, env.ETCD_CA_CERT_FILE, env.ETCD_CERT_FILE, env.ETCD_KEY_FILE);
}

/** The variable that sets the datastore request timeout. */
export const TIMEOUT_VARIABLE = 'MARGAY_DATASTORE_TIMEOUT';
/** The timeout when the variable is not set. */
const DEFAULT_TIMEOUT_MS = 10_000;
/** Longest timeout the variable may set (10 minutes). */
const MAX_TIMEOUT_MS = 600_000;

/**
 * The request timeout from MARGAY_DATASTORE_TIMEOUT: a duration (`30s`, `2m`, `1500ms`) or a
 * number of seconds, from 1 ms to 10 min. Refused, naming the variable, when it is anything else.
 */
export function datastoreTimeout(env: NodeJS.ProcessEnv): { dialTimeoutMs: number; timeoutName: string } {
  const text = env[TIMEOUT_VARIABLE]?.trim();
  const timeoutName = `${TIMEOUT_VARIABLE}, default ${DEFAULT_TIMEOUT_MS / 1000}s`;
  if (text === undefined || text === '') return { dialTimeoutMs: DEFAULT_TIMEOUT_MS, timeoutName };
  const seconds = /^\d+(\.\d+)?$/.test(text) ? Number(text) : parseGoDuration(text);
  const ms = seconds === undefined ? NaN : Math.round(seconds * 1000);
  if (!(ms >= 1 && ms <= MAX_TIMEOUT_MS)) {
    throw new MargayError('MARGAY_ERR_CONFIG', `${TIMEOUT_VARIABLE}: expected a duration from 1ms to 10m (e.g. 30s, or a number of seconds), got ${JSON.stringify(text)}`);
  }
  return { dialTimeoutMs: ms, timeoutName };
}

/** Resolves the datastore configuration from `-c`, the environment or the default files. */
export function loadClientConfig(options: { configFile?: string; env?: NodeJS.ProcessEnv } = {}): DatastoreConfig {
  const env = options.env ?? process.env;
  const config = chooseConfig(options.configFile, env);
  return config.type === 'etcdv3' ? { ...config, ...datastoreTimeout(env) } : config;
}

function chooseConfig(configFile: string | undefined, env: NodeJS.ProcessEnv): DatastoreConfig {
  if (configFile) {
    if (!existsSync(configFile)) {
      throw new MargayError('MARGAY_ERR_CONFIG', `${configFile}: configuration file does not exist`);
    }
    return fromFile(configFile);
  }
  if (env.DATASTORE_TYPE || env.ETCD_ENDPOINTS) return fromEnvironment(env);
  const file = DEFAULT_CONFIG_FILES.find((f) => existsSync(f));
  return file ? fromFile(file) : fromEnvironment(env);
}
