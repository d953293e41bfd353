/**
 * The lab's datastore: etcd in the machine's namespace listening only on unix sockets (clients
 * and peers), so it has no address at all; lab hosts and the operator's shell both reach it
 * through the socket files, since namespaces share the filesystem.
 *
 * One member by default, or a cluster (`lab up --etcd-members 3`) to show a member failing. All
 * members run in `<dir>/etcd`, because etcd names a unix socket after the URL's `host:port`
 * relative to its working directory: relative names are then the same for every member.
 */
import { mkdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { exec } from '../os/mod.ts';
import { MargayError } from '../errors/mod.ts';
import { type ProcessRecord, isRunning, startProcess } from './processes.ts';
import { pollUntil } from './poll.ts';

/** One etcd member of the lab. */
interface MemberPlan {
  /** The etcd member name, also in the process role (`etcd`, or `etcd lab-2` in a cluster). */
  name: string;
  role: string;
  clientSocket: string;
  peerSocket: string;
}

function memberPlans(count: number): MemberPlan[] {
  if (count === 1) return [{ name: 'lab', role: 'etcd', clientSocket: 'client.sock', peerSocket: 'peer.sock' }];
  return Array.from({ length: count }, (_, i) => ({
    name: `lab-${i + 1}`,
    role: `etcd lab-${i + 1}`,
    clientSocket: `client-${i + 1}.sock`,
    peerSocket: `peer-${i + 1}.sock`,
  }));
}

function etcdDir(dir: string): string {
  return join(dir, 'etcd');
}

/** The client endpoints for a lab folder, comma-separated as ETCD_ENDPOINTS takes them (`unix://<dir>/etcd/client.sock:0`). */
export function labEtcdEndpoint(dir: string, members = 1): string {
  return memberPlans(members).map((m) => `unix://${join(etcdDir(dir), m.clientSocket)}:0`).join(',');
}

function startMember(dir: string, member: MemberPlan, all: MemberPlan[]): ProcessRecord {
  return startProcess({
    role: member.role,
    cmd: 'etcd',
    args: [
      '--name', member.name,
      '--data-dir', join(etcdDir(dir), `data-${member.name}`),
      '--listen-client-urls', `unix://${member.clientSocket}:0`,
      '--advertise-client-urls', `unix://${member.clientSocket}:0`,
      '--listen-peer-urls', `unix://${member.peerSocket}:0`,
      '--initial-advertise-peer-urls', `unix://${member.peerSocket}:0`,
      '--initial-cluster', all.map((m) => `${m.name}=unix://${m.peerSocket}:0`).join(','),
      '--initial-cluster-state', 'new',
      '--log-level', 'warn',
    ],
    cwd: etcdDir(dir),
    logFile: join(dir, `${member.role.replace(' ', '-')}.log`),
  });
}

async function waitHealthy(dir: string, member: MemberPlan, record: ProcessRecord): Promise<void> {
  const endpoint = `unix://${join(etcdDir(dir), member.clientSocket)}:0`;
  const healthy = await pollUntil(async () => {
    if (!isRunning(record)) throw new MargayError('MARGAY_ERR_NOT_READY', `etcd ${member.name} exited at start; see ${record.logFile}`);
    const health = await exec('etcdctl', ['--endpoints', endpoint, 'endpoint', 'health'], { allowFail: true, timeoutMs: 3000 }).catch(() => undefined);
    return health?.code === 0 ? true : undefined;
  }, { deadline: Date.now() + 20_000, intervalMs: 100 });
  if (!healthy) throw new MargayError('MARGAY_ERR_NOT_READY', `etcd ${member.name} did not become healthy; see ${record.logFile}`);
}

/**
 * Starts the lab's etcd (`members` of them, default 1) and waits until every member answers.
 * With `only`, starts just that member (by role) again, on its data, and waits for it.
 */
export async function startLabEtcd(dir: string, options: { members?: number; only?: string } = {}): Promise<ProcessRecord[]> {
  mkdirSync(etcdDir(dir), { recursive: true });
  const all = memberPlans(options.members ?? 1);
  const chosen = options.only === undefined ? all : all.filter((m) => m.role === options.only);
  if (chosen.length === 0) throw new MargayError('MARGAY_ERR_NOT_FOUND', `no etcd member ${options.only} in the lab`);
  // A killed member leaves its socket files behind, and etcd will not listen on an existing path.
  for (const m of chosen) for (const sock of [m.clientSocket, m.peerSocket]) rmSync(join(etcdDir(dir), `${sock}:0`), { force: true });
  const records = chosen.map((m) => startMember(dir, m, all));
  for (const [i, m] of chosen.entries()) await waitHealthy(dir, m, records[i]!);
  return records;
}
