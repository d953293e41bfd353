/**
 * The three-way check of the policy suites: the hand-written expectation, `margay policy matrix`
 * against the datastore, and probes of every pair over the real dataplane must agree. Manifests
 * go in through the real CLI (in-process, against the suite's etcd). {@link usePolicySuite} sets
 * up what such a suite runs on: etcd, a host namespace with its pods, and a ready agent.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before } from 'node:test';
import { margay } from '../cli/helpers.ts';
import { useEtcd } from '../harness/etcd.ts';
import type { TestNetns } from '../harness/netns.ts';
import { eventually } from '../harness/wait.ts';
import type { Truth } from './k8s-model.ts';
import { tableDiff } from './k8s-model.ts';
import { addPod, type AgentProcess, createHost, probeAll, startAgent, type TestPod } from './lab.ts';

type Table = Truth['table'];

interface Named {
  kind: string;
  metadata: { name: string; namespace?: string };
}

/** Options of {@link PolicyChecker}. */
export interface PolicyCheckerOptions {
  /** The CLI's environment (ETCD_ENDPOINTS). */
  env: () => NodeJS.ProcessEnv;
  /** Where manifests are written. */
  dir: string;
  /** The pods, in the same order as `names`. */
  pods: () => readonly TestPod[];
  /** The pods' names as `policy matrix` prints them (`ns/pod`). */
  names: readonly string[];
  /** Port labels (`80/TCP`). */
  ports: readonly string[];
  /** For failure messages. */
  agent: () => AgentProcess | undefined;
  /** Probe timeout per connection, ms (default 300). */
  probeTimeoutMs?: number;
}

/** Applies policy sets and checks expectation = matrix = probes. */
export class PolicyChecker {
  readonly #o: PolicyCheckerOptions;
  #seq = 0;
  #current: Named[] = [];

  constructor(options: PolicyCheckerOptions) {
    this.#o = options;
  }

  /** Runs `margay args… [-f <objects as a file>]`; returns stdout, fails the test on exit 1. */
  async cli(args: string[], objects?: object[]): Promise<string> {
    let file: string | undefined;
    if (objects) {
      file = join(this.#o.dir, `m${this.#seq++}.json`);
      writeFileSync(file, JSON.stringify(objects, null, 1));
    }
    const res = await margay(file ? [...args, '-f', file] : args, { env: this.#o.env() });
    assert.equal(res.code, 0, `margay ${args.join(' ')} failed: ${res.stderr}`);
    return res.stdout;
  }

  /** `policy matrix -o json` from the datastore. */
  async matrix(): Promise<Table> {
    const out = JSON.parse(await this.cli(['policy', 'matrix', ...this.#o.ports.flatMap((p) => ['--port', p]), '-o', 'json'])) as {
      endpoints: Array<{ name: string }>;
      matrix: Table;
    };
    assert.deepEqual(out.endpoints.map((e) => e.name).sort(), [...this.#o.names].sort());
    return out.matrix;
  }

  /** Probes every pair on every port. */
  async probeTable(): Promise<Table> {
    const probePorts = this.#o.ports.map((p) => {
      const [port, proto] = p.split('/') as [string, string];
      return { port: Number(port), proto: proto.toLowerCase() as 'tcp' | 'udp' };
    });
    const m = await probeAll(this.#o.pods(), probePorts, this.#o.probeTimeoutMs ?? 300);
    const names = this.#o.names;
    const table: Table = {};
    this.#o.ports.forEach((p, k) => {
      table[p] = Object.fromEntries(names.map((from, i) => [from, Object.fromEntries(names.map((to, j) => [to, m[i]![j]![k] ? 'allow' : 'deny']))]));
    });
    return table;
  }

  /** Makes `objects` the whole set of policy-like resources this checker manages (others deleted). */
  async setResources(objects: object[]): Promise<void> {
    const id = (o: Named): string => `${o.kind}/${o.metadata.namespace ?? ''}/${o.metadata.name}`;
    const wanted = new Set((objects as Named[]).map(id));
    // Delete stale ones, policies before what they refer to (tiers last).
    const stale = this.#current.filter((o) => !wanted.has(id(o))).sort((a, b) => Number(a.kind === 'Tier') - Number(b.kind === 'Tier'));
    const policies = stale.filter((o) => o.kind !== 'Tier');
    const tiers = stale.filter((o) => o.kind === 'Tier');
    if (policies.length > 0) await this.cli(['delete', '--skip-not-exists'], policies);
    if (tiers.length > 0) await this.cli(['delete', '--skip-not-exists'], tiers);
    if (objects.length > 0) await this.cli(['apply'], objects);
    this.#current = objects as Named[];
  }

  /** Asserts the matrix equals `expected`, then waits until the probes do. */
  async expect(expected: Truth, options: { timeoutMs?: number } = {}): Promise<void> {
    const want = expected.final();
    const matrix = await this.matrix();
    assert.deepEqual(matrix, want, `policy matrix disagrees with the expectation:\n${tableDiff(want, matrix, 'matrix says')}`);
    let seen: Table = {};
    await eventually(
      async () => {
        seen = await this.probeTable();
        return JSON.stringify(seen) === JSON.stringify(want);
      },
      { timeoutMs: options.timeoutMs ?? 30_000, intervalMs: 50, what: 'probes' },
    ).catch((err: Error) => {
      const tail = this.#o.agent()?.logs().split('\n').slice(-10).join('\n') ?? '';
      throw new Error(`${err.message}: the dataplane disagrees with the expectation:\n${tableDiff(want, seen, 'probes say')}\n--- agent log tail ---\n${tail}`);
    });
  }

  /** {@link setResources} then {@link expect}. */
  async check(objects: object[], expected: Truth): Promise<void> {
    await this.setResources(objects);
    await this.expect(expected);
  }
}

/** Options of {@link usePolicySuite}. */
export interface PolicySuiteOptions {
  /** Prefix of the temporary directory the manifests are written to (`margay-calico-`). */
  dirPrefix: string;
  /** The pods as `ns/pod`, in matrix order: each gets a workload on the host serving 80 and 81. */
  pods: readonly string[];
  /** Port labels (`80/TCP`). */
  ports: readonly string[];
  /** The Node the agent runs as. */
  node: string;
  /** Where a pod is plumbed: its host-side interface and its address. */
  plumbing: (key: string) => { hostInterface: string; ip: string };
  /** Applied through the CLI before the agent starts (namespaces, pods). */
  manifests: object[];
}

/** What a policy suite runs on, available once its `before` hook has run. */
export interface PolicySuite {
  /** The host namespace the agent programs. */
  readonly host: TestNetns;
  /** The pods, in the order of `pods`. */
  readonly pods: readonly TestPod[];
  readonly checker: PolicyChecker;
  /** Namespaces a test adds; deleted after the pods, before the host. */
  readonly extraNetns: TestNetns[];
}

/**
 * Sets up a policy suite in `before`/`after` hooks of the enclosing describe: etcd, a host
 * namespace with one workload per pod, the manifests applied, and a ready agent; removes it all after.
 */
export function usePolicySuite(options: PolicySuiteOptions): PolicySuite {
  const handle = useEtcd();
  let host: TestNetns | undefined;
  const running: TestPod[] = [];
  const extraNetns: TestNetns[] = [];
  let agent: AgentProcess | undefined;
  let dir = '';
  let checker: PolicyChecker | undefined;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), options.dirPrefix));
    checker = new PolicyChecker({
      env: () => ({ ETCD_ENDPOINTS: handle.etcd.endpoints.join(',') }),
      dir,
      pods: () => running,
      names: options.pods,
      ports: options.ports,
      agent: () => agent,
    });
    host = await createHost();
    for (const key of options.pods) running.push(await addPod(host, { name: key, ...options.plumbing(key), ports: [80, 81] }));
    await checker.cli(['apply'], options.manifests);
    agent = await startAgent({ etcdEndpoints: handle.etcd.endpoints, hostname: options.node, netns: host.name });
    await agent.waitReady();
  });

  after(async () => {
    await agent?.destroy();
    for (const p of running) await p.netns.delete();
    for (const ns of extraNetns) await ns.delete();
    await host?.delete();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const ready = <T>(value: T | undefined, what: string): T => {
    if (value === undefined) throw new Error(`usePolicySuite: no ${what} yet (use it inside tests or later hooks)`);
    return value;
  };
  return {
    get host() {
      return ready(host, 'host');
    },
    pods: running,
    get checker() {
      return ready(checker, 'checker');
    },
    extraNetns,
  };
}
