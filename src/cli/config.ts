/**
 * Client configuration, as calicoctl reads it: a `kind: CalicoAPIConfig` file (`-c`, default
 * /etc/margay/margay.cfg, then /etc/calico/calicoctl.cfg) or the environment (DATASTORE_TYPE,
 * ETCD_ENDPOINTS, ETCD_CA_CERT_FILE, ETCD_CERT_FILE, ETCD_KEY_FILE). The environment wins
 * over defaults; an explicit `-c` file wins over the environment, as in calicoctl.
 */
import { existsSync, readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { z } from 'zod';
import { formatPath } from '../api/validate.ts';
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

/** Resolves the datastore configuration from `-c`, the environment or the default files. */
export function loadClientConfig(options: { configFile?: string; env?: NodeJS.ProcessEnv } = {}): DatastoreConfig {
  const env = options.env ?? process.env;
  if (options.configFile) {
    if (!existsSync(options.configFile)) {
      throw new MargayError('MARGAY_ERR_CONFIG', `${options.configFile}: configuration file does not exist`);
    }
    return fromFile(options.configFile);
  }
  if (env.DATASTORE_TYPE || env.ETCD_ENDPOINTS) return fromEnvironment(env);
  const file = DEFAULT_CONFIG_FILES.find((f) => existsSync(f));
  return file ? fromFile(file) : fromEnvironment(env);
}
