/**
 * The code cache's warm-up: the path of an agent's cold start, run once in the build's process on
 * a small synthetic cluster (warm-up-resources.ts), so that V8's code cache of the agent's bundle
 * (scripts/bundle.mjs, bin/code-cache.js) holds the functions a cold start runs, compiled, instead
 * of the agent's main thread compiling them lazily at every start (docs/agent.md).
 *
 * What runs: the agent itself (agent.ts: its datastore feed over an in-memory datastore, the
 * calculation graph, the flush loop, the status publisher; no HTTP servers, no malloc addon, its
 * log lines to the null device) until its first flush is applied, then stopped; its dataplane
 * does what the dataplane's first apply does on a host without the table (the nftables and route
 * managers, the driver's probe, the load ahead as a netlink batch stream with the policy lists
 * streamed as they render, the last transaction as netlink batches), with a fake nft and a fake
 * netlink helper. What does not: no process is spawned, no kernel, etcd or network is reached,
 * no timer outlives the warm-up, and nothing calls `v8.setFlagsFromString`: a flag set at run
 * time changes V8's flag hash, and V8 rejects a cache written after that (the agent's heap trim
 * collects only after 2,000 updates, the idle scavenge only after CNI work: neither runs). The
 * one file written is the load ahead's private stream file in the temporary directory, which the
 * driver deletes. Code the warm-up cannot reach (etcd's gRPC client, the kernel dataplane's
 * processes) is still compiled at the agent's start.
 */
import { statSync } from 'node:fs';
import { devNull } from 'node:os';
import type { DataplaneUpdate } from '../calc/mod.ts';
import { NftablesDriver, NftablesManager, type NftApplyOutcome, RouteManager } from '../dataplane/mod.ts';
import { MemoryDatastore } from '../datastore/mod.ts';
import { createLogger } from '../log/mod.ts';
import type { CommandRunner } from '../os/mod.ts';
import { Agent, type AgentDataplane } from './agent.ts';
import { flagLayers } from './config.ts';
import { WARM_UP_HOST, warmUpKey, warmUpResources } from './warm-up-resources.ts';

/** How long the agent may take to apply its first flush (~0.1 s here) before the warm-up gives up. */
const DEADLINE_MS = 60_000;
/** Policy lists per part of the load ahead (as the dataplane, src/dataplane/mod.ts). */
const LISTS_PER_PART = 8;

/** What the warm-up ran through ({@link warmUp} rejects when it rendered nothing; the unit test checks more). */
export interface WarmUpReport {
  /** Resources read from the datastore. */
  resources: number;
  /** This host's endpoints in the graph. */
  localEndpoints: number;
  /** Updates of the graph's first flush. */
  updates: number;
  /** Chains and sets of the rendered table. */
  chains: number;
  sets: number;
  /** Policy lists rendered (each streamed ahead in parts of {@link LISTS_PER_PART}). */
  policyLists: number;
  /** Parts of the load-ahead stream, its commands and its bytes. */
  aheadParts: number;
  aheadCommands: number;
  aheadBytes: number;
  /** Netlink batches of the last transaction and their bytes. */
  batches: number;
  batchBytes: number;
  /** Transactions that went to nft (text) instead of netlink. */
  nftTransactions: number;
}

/** Resolves after one turn of the event loop. */
function nextTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/**
 * The dataplane's first apply on a host without Margay's table, the netlink helper there (as
 * src/dataplane/mod.ts `run` does it), with a fake nft and a fake helper: the managers record the
 * updates, the driver probes, loads the sets and policies ahead as a netlink batch stream, streams
 * the policy lists in parts as they render, and sends the last transaction as netlink batches.
 */
async function firstApply(updates: readonly DataplaneUpdate[], report: WarmUpReport): Promise<NftApplyOutcome> {
  const nft = new NftablesManager();
  const managers = [nft, new RouteManager()];
  let releaseStream!: () => void;
  const driver = new NftablesDriver(fakeNft(report), {
    // As the agent by default, whatever MARGAY_SWITCH_ON the build's environment holds.
    switchOnNetlink: true,
    elementWriter: {
      applyBatch: async (batch) => {
        report.batches++;
        report.batchBytes += batch.length;
      },
      // The helper would send the batches while they are written; here the stream is only measured once it has ended.
      streamBatches: (path) =>
        new Promise<void>((resolve) => {
          releaseStream = () => {
            report.aheadBytes = statSync(path).size;
            resolve();
          };
        }),
    },
  });
  for (const u of updates) if (u.type !== 'in-sync') for (const m of managers) m.onUpdate(u);
  if (driver.prefetch({ probeFirst: true })) await nextTurn();
  nft.completeSetsAndPolicies();
  if (!(await driver.loadAhead(nft.desired))) throw new Error('the warm-up did not load ahead (the driver found a table, or nothing to load)');
  report.aheadParts = 1;
  let part: string[] = [];
  nft.onListRendered = (chains) => {
    part.push(...chains);
    if (++report.policyLists % LISTS_PER_PART !== 0) return;
    if (driver.continueAhead(nft.desired, { names: { chains: part, sets: [] } })) report.aheadParts++;
    part = [];
  };
  try {
    for (const m of managers) m.completeDeferredWork();
  } finally {
    nft.onListRendered = undefined;
  }
  driver.continueAhead(nft.desired, { end: true });
  releaseStream();
  const outcome = await driver.apply(nft.desired, nft.desired.takeDirty());
  report.aheadCommands = outcome.ahead?.commands ?? 0;
  report.chains = nft.desired.chains.size;
  report.sets = nft.desired.sets.size;
  const error = outcome.error ?? outcome.ahead?.error;
  if (error) throw new Error(`the warm-up's apply failed: ${error.message}`);
  return outcome;
}

/** Answers the driver's listings as a host without Margay's table would, and takes any nft transaction as applied. */
function fakeNft(report: WarmUpReport): CommandRunner {
  return async (_cmd, args) => {
    const line = args.join(' ');
    if (line === '-j list tables inet') return { code: 0, stdout: '{"nftables": [{"metainfo": {"json_schema_version": 1}}]}', stderr: '' };
    if (line.startsWith('-j list table ')) return { code: 1, stdout: '', stderr: 'Error: No such file or directory' };
    report.nftTransactions++;
    return { code: 0, stdout: '', stderr: '' };
  };
}

/**
 * Runs a cold start's path once on a small synthetic cluster, in this process, so that V8 compiles
 * its functions (see the module comment); resolves to what it ran through. Rejects when a step
 * failed or rendered nothing.
 */
export async function warmUp(): Promise<WarmUpReport> {
  const report: WarmUpReport = { resources: 0, localEndpoints: 0, updates: 0, chains: 0, sets: 0, policyLists: 0, aheadParts: 0, aheadCommands: 0, aheadBytes: 0, batches: 0, batchBytes: 0, nftTransactions: 0 };
  const ds = new MemoryDatastore();
  const resources = warmUpResources();
  report.resources = resources.length;
  const puts = resources.map((r) => ({ op: 'put' as const, key: warmUpKey(r), value: JSON.stringify(r) }));
  for (let i = 0; i < puts.length; i += 64) await ds.txn(puts.slice(i, i + 64));
  let applied!: (error?: Error) => void;
  const firstApplied = new Promise<void>((resolve, reject) => (applied = (error) => (error ? reject(error) : resolve())));
  let applies = 0;
  const dataplane: AgentDataplane = {
    apply: async (updates) => {
      if (applies++ > 0) return { ok: true }; // a later flush (none is expected): nothing to warm
      report.updates = updates.length;
      try {
        const nft = await firstApply(updates, report);
        applied();
        return { ok: true, nft };
      } catch (err) {
        applied(err instanceof Error ? err : new Error(String(err)));
        throw err;
      }
    },
    resync: async () => ({ ok: true }),
  };
  // The agent's own classes (feed, graph, flush loop, status), logging its lines to nowhere. The
  // heap trim it builds collects only after a burst of 2,000 updates (heap-trim.ts): never here.
  const agent = new Agent({
    datastore: ds,
    local: { layers: flagLayers({ hostname: WARM_UP_HOST }), warnings: [] },
    dataplane: () => dataplane,
    logger: createLogger({ level: 'info', file: devNull }),
    servers: false,
    malloc: null,
  });
  let deadline: NodeJS.Timeout | undefined;
  try {
    await agent.start();
    const late = new Promise<never>((_, reject) => {
      deadline = setTimeout(() => reject(new Error(`the agent did not apply its first flush within ${DEADLINE_MS / 1000} s`)), DEADLINE_MS);
    });
    await Promise.race([firstApplied, late, agent.done.then(() => Promise.reject(new Error('the agent stopped before its first apply')))]);
    await agent.whenIdle();
    report.localEndpoints = agent.graph.stats().localEndpoints;
  } finally {
    clearTimeout(deadline);
    await agent.stop();
    await ds.close();
  }
  if (report.localEndpoints === 0 || report.chains === 0 || report.policyLists === 0 || report.aheadCommands === 0) throw new Error(`the warm-up rendered nothing: ${JSON.stringify(report)}`);
  return report;
}
