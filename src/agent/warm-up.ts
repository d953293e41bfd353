/**
 * The code cache's warm-up: the path of an agent's cold start, run once in the build's process on
 * a small synthetic cluster (warm-up-resources.ts), so that V8's code cache of the agent's bundle
 * (scripts/bundle.mjs, bin/code-cache.js) holds the functions a cold start runs, compiled, instead
 * of the agent's main thread compiling them lazily at every start (docs/agent.md).
 *
 * What runs: the agent itself (agent.ts: its datastore feed over an in-memory datastore, the
 * calculation graph, the flush loop, the status publisher; no HTTP servers, no malloc addon, its
 * log lines to the null device) until its first flush is applied, then stopped; its dataplane is
 * the real one (src/dataplane's `Dataplane`, as the agent makes it) over a stand-in for a host
 * without Margay's table (warm-up-kernel.ts: a command runner for nft and ip, a netlink writer
 * that reads the load ahead's stream as the helper does), so its first apply takes the cold
 * start's path: the managers render, the driver probes, loads the sets and policies ahead as a
 * netlink batch stream, streams the policy lists as they render, and sends the last transaction
 * as netlink batches. What does not: no process is spawned, no kernel, etcd or network is
 * reached, no timer outlives the warm-up, and nothing calls `v8.setFlagsFromString`: a flag set at run
 * time changes V8's flag hash, and V8 rejects a cache written after that (the agent's heap trim
 * collects only after 2,000 updates, the idle scavenge only after CNI work: neither runs). The
 * one file written is the load ahead's private stream file in the temporary directory, which the
 * driver deletes. Code the warm-up cannot reach (etcd's gRPC client, the kernel dataplane's
 * processes) is still compiled at the agent's start.
 */
import { devNull } from 'node:os';
import { Dataplane } from '../dataplane/mod.ts';
import { MemoryDatastore } from '../datastore/mod.ts';
import { createLogger } from '../log/mod.ts';
import { Agent, type AgentDataplane } from './agent.ts';
import { flagLayers } from './config.ts';
import { WarmUpKernel, type WarmUpKernelCounts } from './warm-up-kernel.ts';
import { WARM_UP_HOST, warmUpKey, warmUpResources } from './warm-up-resources.ts';

/** How long the agent may take to apply its first flush (~0.1 s here) before the warm-up gives up. */
const DEADLINE_MS = 60_000;

/** What the warm-up ran through ({@link warmUp} rejects when it rendered nothing; the unit test checks more). */
export interface WarmUpReport extends WarmUpKernelCounts {
  /** Resources read from the datastore. */
  resources: number;
  /** This host's endpoints in the graph. */
  localEndpoints: number;
  /** Updates of the graph's first flush. */
  updates: number;
  /** Commands of the load ahead, as the first apply reported them. */
  aheadCommands: number;
}

/**
 * The real dataplane of a host without Margay's table, with the netlink helper there (as the
 * agent's by default), over the stand-in kernel: its first apply renders everything, loads the
 * sets and policies ahead as a netlink stream, streams the policy lists while the endpoints
 * render, and sends the last transaction as netlink batches.
 */
function warmUpDataplane(kernel: WarmUpKernel): Dataplane {
  return new Dataplane({
    runner: kernel.runner,
    elementWriter: kernel.writer,
    // The load ahead, by netlink, and the last transaction by netlink, whatever the build's
    // environment says (MARGAY_LOAD_AHEAD, MARGAY_SWITCH_ON) and however few policies there are.
    loadAheadMinPolicies: 1,
    loadAheadNetlink: true,
    switchOnNetlink: true,
  });
}

/**
 * Runs a cold start's path once on a small synthetic cluster, in this process, so that V8 compiles
 * its functions (see the module comment); resolves to what it ran through. Rejects when a step
 * failed or rendered nothing.
 */
export async function warmUp(options: { deadlineMs?: number } = {}): Promise<WarmUpReport> {
  const deadlineMs = options.deadlineMs ?? DEADLINE_MS;
  const kernel = new WarmUpKernel();
  // What the agent's side ran through; the stand-in kernel counts the rest.
  const ran = { resources: 0, localEndpoints: 0, updates: 0, aheadCommands: 0 };
  const ds = new MemoryDatastore();
  const resources = warmUpResources();
  ran.resources = resources.length;
  const puts = resources.map((r) => ({ op: 'put' as const, key: warmUpKey(r), value: JSON.stringify(r) }));
  for (let i = 0; i < puts.length; i += 64) await ds.txn(puts.slice(i, i + 64));
  let applied!: (error?: Error) => void;
  const firstApplied = new Promise<void>((resolve, reject) => (applied = (error) => (error ? reject(error) : resolve())));
  const dp = warmUpDataplane(kernel);
  let applies = 0;
  const dataplane: AgentDataplane = {
    apply: async (updates) => {
      if (applies++ > 0) return { ok: true }; // a later flush (none is expected): nothing to warm
      ran.updates = updates.length;
      try {
        const result = await dp.apply(updates);
        const error = result.nft.error ?? result.nft.ahead?.error ?? (result.ok ? undefined : new Error(JSON.stringify(result.routes.errors)));
        if (error) throw new Error(`the warm-up's apply failed: ${error.message}`);
        ran.aheadCommands = result.nft.ahead?.commands ?? 0;
        applied();
        return result;
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
      deadline = setTimeout(() => reject(new Error(`the agent did not apply its first flush within ${deadlineMs / 1000} s`)), deadlineMs);
    });
    await Promise.race([firstApplied, late, agent.done.then(() => Promise.reject(new Error('the agent stopped before its first apply')))]);
    await agent.whenIdle();
    ran.localEndpoints = agent.graph.stats().localEndpoints;
  } finally {
    clearTimeout(deadline);
    // The stand-in kernel first: a load-ahead stream that never ended holds the apply, and the
    // agent's stop waits for that apply.
    kernel.close();
    await agent.stop();
    dp.close();
    await ds.close();
  }
  const report: WarmUpReport = { ...ran, ...kernel.counts };
  if (report.localEndpoints === 0 || report.aheadChains === 0 || report.batches === 0 || report.aheadCommands === 0) throw new Error(`the warm-up rendered nothing: ${JSON.stringify(report)}`);
  return report;
}
