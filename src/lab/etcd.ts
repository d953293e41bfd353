/**
 * The lab's datastore: one etcd in the machine's namespace that listens only on unix sockets
 * (clients and peers), so it has no address at all; lab hosts and the operator's shell both reach
 * it through the socket file, since namespaces share the filesystem.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { exec } from '../dataplane/exec.ts';
import { type ProcessRecord, isRunning, startProcess } from './processes.ts';

/** The client endpoint for a lab folder: `unix://<dir>/etcd/client.sock:0`. */
export function labEtcdEndpoint(dir: string): string {
  return `unix://${join(dir, 'etcd', 'client.sock')}:0`;
}

/** Starts the lab's etcd and waits until it answers. */
export async function startLabEtcd(dir: string): Promise<ProcessRecord> {
  const etcdDir = join(dir, 'etcd');
  mkdirSync(etcdDir, { recursive: true });
  // etcd names a unix socket after the URL's host:port, relative to its working directory.
  const record = startProcess({
    role: 'etcd',
    cmd: 'etcd',
    args: [
      '--name', 'lab',
      '--data-dir', join(etcdDir, 'data'),
      '--listen-client-urls', 'unix://client.sock:0',
      '--advertise-client-urls', 'unix://client.sock:0',
      '--listen-peer-urls', 'unix://peer.sock:0',
      '--initial-advertise-peer-urls', 'unix://peer.sock:0',
      '--initial-cluster', 'lab=unix://peer.sock:0',
      '--log-level', 'warn',
    ],
    cwd: etcdDir,
    logFile: join(dir, 'etcd.log'),
  });
  const endpoint = labEtcdEndpoint(dir);
  for (let i = 0; i < 100; i++) {
    if (!isRunning(record)) throw new Error(`etcd exited at start; see ${record.logFile}`);
    const health = await exec('etcdctl', ['--endpoints', endpoint, 'endpoint', 'health'], {
      allowFail: true,
      timeoutMs: 3000,
    }).catch(() => undefined);
    if (health?.code === 0) return record;
    await sleep(100);
  }
  throw new Error(`etcd did not become healthy; see ${record.logFile}`);
}
