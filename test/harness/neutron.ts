/**
 * A real neutron-server (OpenStack Zed from Debian, Margay's ML2 driver loaded) on a test's etcd:
 * SQLite schema from Neutron's models, noauth, the fake message bus, its log in the test folder,
 * started and stopped (or SIGKILLed) by PID. Configuration comes from src/lab/openstack/neutron.ts,
 * as in the lab.
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createNeutronSchema, neutronServerCommand, type NeutronFiles, waitNeutronReady, writeNeutronConfig } from '../../src/lab/openstack/neutron.ts';
import { NeutronApi } from '../../src/lab/openstack/neutron-api.ts';
import { registerCleanup } from './cleanup.ts';
import { freePorts } from './ports.ts';
import { killPid, LoggedProcess } from './process.ts';

/** Options of {@link startNeutron}. */
export interface StartNeutronOptions {
  /** The etcd endpoint the driver writes to. */
  etcdEndpoint: string;
  /** Seconds between the driver's resyncs (short in tests). */
  resyncInterval?: number;
  timeoutMs?: number;
}

/** A running neutron-server. */
export interface NeutronHandle {
  readonly url: string;
  readonly api: NeutronApi;
  readonly files: NeutronFiles;
  readonly pid: number | undefined;
  /** SIGKILL (data kept). */
  kill(): Promise<void>;
  /** Starts it again on the same database and port; resolves once it answers. */
  restart(): Promise<void>;
  logTail(lines?: number): string;
  /** Stops it and removes its folder. */
  destroy(): Promise<void>;
}

/** Every descendant of `pid` (neutron-server forks its RPC and periodic workers). */
function descendants(pid: number | undefined): number[] {
  if (pid === undefined) return [];
  const out: number[] = [];
  let tasks: string[] = [];
  try {
    tasks = readdirSync(`/proc/${pid}/task`);
  } catch {
    return out;
  }
  for (const tid of tasks) {
    let children = '';
    try {
      children = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8');
    } catch {
      continue;
    }
    for (const child of children.trim().split(/\s+/).filter(Boolean).map(Number)) out.push(child, ...descendants(child));
  }
  return out;
}

/** Starts neutron-server on 127.0.0.1 (a free port) and waits until its API answers. */
export async function startNeutron(options: StartNeutronOptions): Promise<NeutronHandle> {
  const dir = mkdtempSync(join(tmpdir(), 'margay-neutron-'));
  const [port] = await freePorts(1);
  const files = writeNeutronConfig({ dir, etcdEndpoint: options.etcdEndpoint, bindHost: '127.0.0.1', port: port!, resyncInterval: options.resyncInterval ?? 60 });
  await createNeutronSchema(files);
  const command = neutronServerCommand(files);
  // `env` sets the driver's PYTHONPATH and execs the interpreter: the PID stays the server's.
  const proc = new LoggedProcess('neutron-server', '/usr/bin/env', [`PYTHONPATH=${command.env.PYTHONPATH}`, 'PYTHONDONTWRITEBYTECODE=1', command.cmd, ...command.args], join(dir, 'stdout.log'));
  const url = `http://127.0.0.1:${port}`;
  const timeoutMs = options.timeoutMs ?? 60_000;
  const start = async (): Promise<void> => {
    proc.spawn();
    await waitNeutronReady({ url, timeoutMs, alive: () => proc.running, logFile: files.logFile });
  };
  // The workers it forks are killed by PID with it (they would notice the parent's death, later).
  const stop = async (signal: NodeJS.Signals): Promise<void> => {
    const workers = descendants(proc.pid);
    await proc.stop(signal);
    for (const pid of workers) killPid(pid);
  };
  const killNow = (): void => {
    const workers = descendants(proc.pid);
    proc.killNow();
    for (const pid of workers) killPid(pid);
  };
  const unregister = registerCleanup(killNow);
  try {
    await start();
  } catch (err) {
    killNow();
    throw err;
  }
  return {
    url,
    api: new NeutronApi({ url }),
    files,
    get pid() {
      return proc.pid;
    },
    kill: () => stop('SIGKILL'),
    restart: async () => {
      await stop('SIGTERM');
      await start();
    },
    logTail: (lines = 40) => proc.logTail(lines) + '\n' + new LoggedProcess('', '', [], files.logFile).logTail(lines),
    destroy: async () => {
      await stop('SIGTERM');
      unregister();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
