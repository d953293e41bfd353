/**
 * A real neutron-server with Margay's mechanism driver (integrations/openstack/): its configuration
 * files, its SQLite schema (built from Neutron's models: the migrations do not run on SQLite), the
 * command that starts it under Debian's /usr/bin/python3 and the wait for its API. One place for
 * the lab (`lab up --openstack`) and the tests (test/harness/neutron.ts). Facts behind the choices:
 * /work/shared/openstack/README.md and docs/openstack.md.
 */
import { copyFileSync, existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MargayError } from '../../errors/mod.ts';
import { exec } from '../../os/mod.ts';
import { packageRoot } from '../entry.ts';
import { pollUntil } from '../poll.ts';
import { NeutronApi } from './neutron-api.ts';

/** Debian's interpreter: the one that sees python3-neutron (a pyenv python3 may come first on PATH). */
export const NEUTRON_PYTHON = '/usr/bin/python3';

/** Options of {@link writeNeutronConfig}. */
export interface NeutronConfigOptions {
  /** The folder of the configuration, the database, state, locks and logs. */
  dir: string;
  /** Margay's etcd as the driver reaches it: `http://HOST:PORT` or `unix://PATH[:0]`. */
  etcdEndpoint: string;
  /** The API's address and port. */
  bindHost: string;
  port: number;
  /** Seconds between the driver's full resyncs. */
  resyncInterval?: number;
  /** The OpenStack region (empty: none). */
  region?: string;
}

/** The files of one neutron-server. */
export interface NeutronFiles {
  dir: string;
  configFiles: string[];
  database: string;
  logFile: string;
}

/** The driver's Python package folder (put on PYTHONPATH; its egg-info declares the entry point). */
export function driverPath(): string {
  const path = join(packageRoot(), 'integrations', 'openstack');
  if (!existsSync(join(path, 'margay_neutron', 'driver.py'))) throw new MargayError('MARGAY_ERR_CONFIG', `${path}/margay_neutron is missing: the driver ships with Margay's sources`);
  return path;
}

/** Writes neutron.conf and ml2_conf.ini (noauth, fake message bus, SQLite, ML2 with `margay`). */
export function writeNeutronConfig(options: NeutronConfigOptions): NeutronFiles {
  const { dir } = options;
  const paste = '/usr/share/neutron-common/api-paste.ini';
  if (!existsSync(paste)) throw new MargayError('MARGAY_ERR_CONFIG', `${paste} is missing: run scripts/install-deps.sh (it installs neutron-common and python3-neutron)`);
  for (const sub of ['state', 'lock']) mkdirSync(join(dir, sub), { recursive: true });
  copyFileSync(paste, join(dir, 'api-paste.ini'));
  const database = join(dir, 'neutron.sqlite');
  const neutronConf = [
    '[DEFAULT]',
    'core_plugin = ml2',
    // Neutron's L3 plugin: routers and floating IPs (the driver turns these into ipNATs); no L3 agent runs.
    'service_plugins = router',
    'auth_strategy = noauth',
    `bind_host = ${options.bindHost}`,
    `bind_port = ${options.port}`,
    'api_workers = 0',
    'rpc_workers = 0',
    'rpc_state_report_workers = 0',
    `api_paste_config = ${join(dir, 'api-paste.ini')}`,
    `state_path = ${join(dir, 'state')}`,
    'transport_url = fake:/',
    'notify_nova_on_port_status_changes = false',
    'notify_nova_on_port_data_changes = false',
    'allow_overlapping_ips = true',
    '[database]',
    // Two processes write (the API and the worker): wait for the other's lock up to 30 s.
    `connection = sqlite:///${database}?timeout=30`,
    '[oslo_concurrency]',
    `lock_path = ${join(dir, 'lock')}`,
    '',
  ].join('\n');
  const ml2Conf = [
    '[ml2]',
    'type_drivers = local,flat',
    'tenant_network_types = local',
    'mechanism_drivers = margay',
    'extension_drivers = port_security',
    '[ml2_type_flat]',
    'flat_networks = *',
    '[securitygroup]',
    'enable_security_group = true',
    '[margay]',
    `etcd_endpoint = ${options.etcdEndpoint}`,
    `openstack_region = ${options.region ?? ''}`,
    `resync_interval = ${options.resyncInterval ?? 60}`,
    '',
  ].join('\n');
  const configFiles = [join(dir, 'neutron.conf'), join(dir, 'ml2_conf.ini')];
  writeFileSync(configFiles[0]!, neutronConf);
  writeFileSync(configFiles[1]!, ml2Conf);
  return { dir, configFiles, database, logFile: join(dir, 'neutron-server.log') };
}

/** Creates the database schema from Neutron's models, once (a database that exists is kept). */
export async function createNeutronSchema(files: NeutronFiles): Promise<void> {
  if (existsSync(files.database)) return;
  const script = [
    'import sys, sqlalchemy',
    'from neutron.db.migration.models import head',
    'engine = sqlalchemy.create_engine("sqlite:///" + sys.argv[1])',
    'head.get_metadata().create_all(engine)',
    // WAL: the API process and the forked worker that sets port status write the same file;
    // without it a reader upgrading to a writer meets the other's lock ("database is locked").
    'with engine.connect() as c: c.exec_driver_sql("PRAGMA journal_mode=WAL")',
  ].join('\n');
  const res = await exec(NEUTRON_PYTHON, ['-c', script, `${files.database}.tmp`], { allowFail: true });
  if (res.code !== 0) throw new MargayError('MARGAY_ERR_COMMAND_FAILED', `creating Neutron's schema failed: ${res.stderr.trim().split('\n').slice(-3).join(' ')}`);
  await exec('mv', [`${files.database}.tmp`, files.database]);
}

/** The program, arguments and environment that run neutron-server (eventlet, one process). */
export function neutronServerCommand(files: NeutronFiles): { cmd: string; args: string[]; env: NodeJS.ProcessEnv } {
  const args = ['-c', 'import sys; from neutron.cmd.eventlet.server import main; sys.argv[0] = "neutron-server"; sys.exit(main())'];
  for (const f of files.configFiles) args.push('--config-file', f);
  args.push('--log-file', files.logFile);
  return { cmd: NEUTRON_PYTHON, args, env: { ...process.env, PYTHONPATH: driverPath(), PYTHONDONTWRITEBYTECODE: '1' } };
}

/** Waits until the API answers `GET /v2.0/networks` (`alive` false: the process died, stop waiting). */
export async function waitNeutronReady(options: { url: string; timeoutMs: number; alive: () => boolean; logFile: string }): Promise<void> {
  const api = new NeutronApi({ url: options.url });
  const ready = await pollUntil(async () => {
    if (!options.alive()) throw new MargayError('MARGAY_ERR_NOT_READY', `neutron-server exited at start; see ${options.logFile}`);
    return (await api.ping()) ? true : undefined;
  }, { deadline: Date.now() + options.timeoutMs, intervalMs: 250 });
  if (!ready) throw new MargayError('MARGAY_ERR_NOT_READY', `neutron-server did not answer within ${options.timeoutMs / 1000} s; see ${options.logFile}`);
}
