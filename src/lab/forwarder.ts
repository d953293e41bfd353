/**
 * The operator's way into a control-plane namespace: `margay-netns-forward` (native/netns-forward.c),
 * one process in the machine's namespace that listens on 127.0.0.1 (a free port) and connects from
 * inside the namespace (setns), so the machine gets no lab address or route (docs/lab.md). Used for
 * Kubernetes' API server and for Neutron's API.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { MargayError } from '../errors/mod.ts';
import { builtFile } from './kubernetes/paths.ts';
import { pollUntil } from './poll.ts';
import { type ProcessRecord, isRunning, startProcess } from './processes.ts';

/** Options of {@link startNetnsForwarder}. */
export interface ForwarderOptions {
  /** The process's role in the lab state. */
  role: string;
  /** Its folder, and the base name of its files there (`<base>.port`, `<base>.log`). */
  dir: string;
  fileBase: string;
  netns: string;
  /** The address and port to connect to inside the namespace. */
  address: string;
  port: number;
}

/** Starts a forwarder from 127.0.0.1 into a namespace; returns it and its port once it listens. */
export async function startNetnsForwarder(options: ForwarderOptions): Promise<{ record: ProcessRecord; port: number }> {
  const portFile = join(options.dir, `${options.fileBase}.port`);
  const record = startProcess({
    role: options.role,
    cmd: builtFile('lab/margay-netns-forward'),
    args: ['127.0.0.1', '0', `/var/run/netns/${options.netns}`, options.address, String(options.port), portFile],
    logFile: join(options.dir, `${options.fileBase}.log`),
  });
  const port = await pollUntil(() => {
    if (!isRunning(record)) throw new MargayError('MARGAY_ERR_NOT_READY', `the ${options.role} exited; see ${record.logFile}`);
    try {
      return Number(readFileSync(portFile, 'utf8').trim()) || undefined;
    } catch {
      return undefined;
    }
  }, { deadline: Date.now() + 10_000, intervalMs: 50 });
  if (!port) throw new MargayError('MARGAY_ERR_NOT_READY', `the ${options.role} did not start listening; see ${record.logFile}`);
  return { record, port };
}
