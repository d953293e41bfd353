/**
 * Cold start: an agent starting on a host with 1,000 local workload endpoints (real veths in a
 * host namespace) and 5,000 NetworkPolicies in etcd, until it reports ready (everything
 * programmed). Against the floor of the same run: listing the same keys from etcd plus loading
 * the final ruleset from scratch with one `nft -f` (the unavoidable datastore and kernel work),
 * and the bare process start (`margay version`).
 * Prints figures and ratios; asserts nothing. Run: npx tsx bench/agent-coldstart.ts  (root)
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { vethNameForPod } from '../src/api/k8s/mod.ts';
import type { Resource } from '../src/api/resource.ts';
import { validateResource } from '../src/api/validate.ts';
import { EtcdDatastore } from '../src/datastore/etcd.ts';
import { RESOURCES_PREFIX } from '../src/datastore/keys.ts';
import { ResourceStore } from '../src/datastore/resources.ts';
import { exec } from '../src/os/mod.ts';
import { createHost, REPO_ROOT, startAgent } from '../test/agent/lab.ts';
import { startEtcd } from '../test/harness/etcd.ts';
import { createTestNetns, run } from '../test/harness/netns.ts';

const ENDPOINTS = Number(process.env.BENCH_ENDPOINTS ?? 1000);
const POLICIES = Number(process.env.BENCH_POLICIES ?? 5000);
const NAMESPACES = 20;

function ipOf(i: number): string {
  return `10.70.${Math.floor(i / 250)}.${(i % 250) + 1}`;
}

function wep(i: number): Resource {
  const ns = `ns-${i % NAMESPACES}`;
  const pod = `pod${i}`;
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'WorkloadEndpoint',
    metadata: {
      name: `host1-k8s-${pod}-eth0`,
      namespace: ns,
      labels: { app: `app-${i % 50}`, tier: i % 2 ? 'web' : 'api', 'projectcalico.org/namespace': ns, 'projectcalico.org/orchestrator': 'k8s' },
    },
    spec: {
      orchestrator: 'k8s',
      node: 'host1',
      pod,
      endpoint: 'eth0',
      interfaceName: vethNameForPod(ns, pod),
      ipNetworks: [`${ipOf(i)}/32`],
      profiles: [`kns.${ns}`],
      ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
    },
  };
}

function policy(i: number): Resource {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'NetworkPolicy',
    metadata: { name: `policy-${i}`, namespace: `ns-${i % NAMESPACES}` },
    spec: {
      tier: 'default',
      order: i,
      selector: `app == 'app-${i % 50}' && tier in {'web', 'api'}`,
      types: ['Ingress', 'Egress'],
      ingress: [
        { action: 'Allow', protocol: 'TCP', source: { selector: `app == 'app-${(i + 1) % 50}'`, nets: [`10.${i % 250}.0.0/16`] }, destination: { ports: [80, 443, '8000:8100', 'http'] } },
      ],
      egress: [{ action: 'Allow', protocol: 'UDP', destination: { ports: [53] } }],
    },
  };
}

function profile(ns: string): Resource {
  return {
    apiVersion: 'projectcalico.org/v3',
    kind: 'Profile',
    metadata: { name: `kns.${ns}` },
    spec: { ingress: [{ action: 'Allow' }], egress: [{ action: 'Allow' }], labelsToApply: { 'pcns.projectcalico.org/name': ns } },
  };
}

const secs = (ms: number): string => (ms / 1000).toFixed(2);

const etcd = await startEtcd();
const host = await createHost();
const scratch = await createTestNetns('mga');
let agent: Awaited<ReturnType<typeof startAgent>> | undefined;
const ds = new EtcdDatastore({ endpoints: etcd.endpoints, tls: {} });
try {
  // The host's workload interfaces (both veth ends in the host namespace: only their names matter).
  let batch = '';
  for (let i = 0; i < ENDPOINTS; i++) {
    const w = wep(i);
    const iface = (w.spec as { interfaceName: string }).interfaceName;
    batch += `link add ${iface} type veth peer name bp${i}\nlink set ${iface} up\nlink set bp${i} up\n`;
  }
  await run('ip', ['-n', host.name, '-batch', '-'], { input: batch, timeoutMs: 300_000 });

  const store = new ResourceStore(ds);
  const resources = [
    ...Array.from({ length: NAMESPACES }, (_, n) => profile(`ns-${n}`)),
    ...Array.from({ length: ENDPOINTS }, (_, i) => wep(i)),
    ...Array.from({ length: POLICIES }, (_, i) => policy(i)),
  ].map((r) => validateResource(r));
  const tw = performance.now();
  for (let i = 0; i < resources.length; i += 1000) await store.batch('apply', resources.slice(i, i + 1000));
  const writeMs = performance.now() - tw;

  // Floor 1: bare process start of the same CLI.
  const tv = performance.now();
  spawnSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src/cli/run.ts'), 'version'], { cwd: REPO_ROOT });
  const processMs = performance.now() - tv;
  // Floor 2: list everything the agent reads.
  const tl = performance.now();
  const listed = await ds.list(RESOURCES_PREFIX);
  const listMs = performance.now() - tl;

  const t0 = performance.now();
  // BENCH_CPU_PROF=<dir>: the agent writes a V8 CPU profile there (it is stopped with SIGTERM).
  const profDir = process.env.BENCH_CPU_PROF;
  agent = await startAgent({
    etcdEndpoints: etcd.endpoints,
    hostname: 'host1',
    netns: host.name,
    env: { MARGAY_LOGSEVERITYSCREEN: 'info' },
    ...(profDir ? { nodeArgs: ['--cpu-prof', `--cpu-prof-dir=${profDir}`] } : {}),
  });
  await agent.waitReady(1_800_000);
  const readyMs = performance.now() - t0;
  const lines = agent.logs().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { time: string; msg: string });
  const at = (msg: string): number => Date.parse(lines.find((l) => l.msg === msg)?.time ?? '');
  const startToSnapshot = at('datastore snapshot complete; programming the dataplane') - at('agent starting');
  const snapshotToSync = at('dataplane in sync') - at('datastore snapshot complete; programming the dataplane');
  const metrics = await agent.metrics();
  const gauge = (name: string): string => new RegExp(`^${name} (\\S+)$`, 'm').exec(metrics)?.[1] ?? '?';
  const rss = Number(gauge('process_resident_memory_bytes')) / 2 ** 20;
  if (profDir) await agent.kill('SIGTERM');

  // Floor 3: the final ruleset loaded from scratch in one transaction.
  const ruleset = (await exec('nft', ['list', 'table', 'inet', 'margay'], { netns: host.name, timeoutMs: 600_000 })).stdout;
  const tn = performance.now();
  await exec('nft', ['-f', '-'], { netns: scratch.name, input: ruleset, timeoutMs: 600_000 });
  const nftMs = performance.now() - tn;
  const ruleLines = ruleset.split('\n').length;

  console.log(`ruleset: ${(ruleset.length / 2 ** 20).toFixed(1)} MiB of nft text`);
  console.log(`${ENDPOINTS} local workload endpoints, ${POLICIES} NetworkPolicies, ${NAMESPACES} namespaces (${listed.items.length} keys; written in ${secs(writeMs)} s)`);
  console.log(`| step | seconds |`);
  console.log('|---|---:|');
  console.log(`| agent process start → ready (everything programmed) | ${secs(readyMs)} |`);
  console.log(`| &nbsp;&nbsp;of which "agent starting" → snapshot received | ${secs(startToSnapshot)} |`);
  console.log(`| &nbsp;&nbsp;of which snapshot → dataplane in sync (graph + first apply) | ${secs(snapshotToSync)} |`);
  console.log(`| floor: process start (\`margay version\`) | ${secs(processMs)} |`);
  console.log(`| floor: etcd list of every resource | ${secs(listMs)} |`);
  console.log(`| floor: \`nft -f\` of the final ruleset (${ruleLines} lines) into an empty namespace | ${secs(nftMs)} |`);
  console.log(`**ratio ready / floor (list + nft load): ${(readyMs / (listMs + nftMs)).toFixed(2)}×**; ready / (process start + list + nft load): ${(readyMs / (processMs + listMs + nftMs)).toFixed(2)}×; agent RSS after start ${rss.toFixed(0)} MiB`);
  console.log(`load average: ${readFileSync('/proc/loadavg', 'utf8').trim()}`);
} finally {
  await agent?.destroy();
  await scratch.delete();
  await host.delete();
  await ds.close();
  await etcd.destroy();
}
