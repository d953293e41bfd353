/**
 * What the CNI service's commands share: the injected dependencies (datastore, IPAM, node name,
 * where the host namespace is, the agent's hooks) and the helpers built on them.
 */
import type { Logger } from '../log/mod.ts';
import type { GcPauses } from './gc-pauses.ts';
import type { Resource } from '../api/mod.ts';
import type { ResourceStore } from '../datastore/mod.ts';
import type { AssignedAddress, AssignIpRequest, AutoAssignRequest, AutoAssignResult, CanAssignRequest } from '../ipam/mod.ts';
import type { IpamSnapshot } from '../ipam/mod.ts';
import type { PodInfoSource } from '../kube/mod.ts';
import { KeyedLock } from './locks.ts';
import type { WorkloadPlumbing } from './plumbing.ts';

/** The IPAM operations the CNI service uses (the agent passes its `Ipam`). */
export interface CniIpam {
  autoAssign(req: AutoAssignRequest): Promise<AutoAssignResult>;
  assignIp(req: AssignIpRequest): Promise<AssignedAddress>;
  /** With `notBefore`: reads at once, writes once it has resolved (nothing when it rejects). */
  releaseByHandle(handle: string, options?: { notBefore?: Promise<unknown> }): Promise<string[]>;
  ipsByHandle(handle: string): Promise<string[]>;
  snapshot(): Promise<IpamSnapshot>;
  canAssign(req: CanAssignRequest): Promise<{ ok: true } | { ok: false; reason: string }>;
}

/** A WorkloadEndpoint as written at one datastore revision. */
export interface EndpointRef {
  namespace: string;
  name: string;
  /** The revision of the write (the resource's resourceVersion); the dataplane must have applied at least this. */
  revision: number;
}

/** The agent's own readiness, as STATUS reports it. */
export interface AgentReadiness {
  ready: boolean;
  /** Why not ready (e.g. "not in sync with the datastore yet"). */
  reason?: string;
}

/** The dependencies and settings of the CNI service. */
export interface CniServiceOptions {
  /** Resource access (WorkloadEndpoints, Profiles). */
  store: ResourceStore;
  ipam: CniIpam;
  /** This node's name (WorkloadEndpoint `spec.node`, IPAM affinity). */
  hostname: string;
  /**
   * The host's network namespace: a name under /run/netns or a path; undefined for the agent's
   * own namespace. Host-side interfaces, routes and sysctls go there.
   */
  hostNetns?: string;
  /**
   * Resolves once the dataplane has applied the endpoint at (at least) `ep.revision`, including
   * its policy; rejects after `timeoutMs`. ADD answers only after this; CHECK uses it with a
   * short timeout.
   */
  waitForEndpointProgrammed(ep: EndpointRef, timeoutMs: number): Promise<void>;
  /**
   * Starts programming a WorkloadEndpoint the service is about to write (the agent feeds it to
   * its dataplane at once, so that the kernel work overlaps the write); returns the withdrawal
   * for a write that failed. Without it, programming starts when the write comes back as an event.
   */
  programAhead?(endpoint: Resource): () => void;
  /**
   * Told when an ADD or DEL starts; the returned function when it has ended. The agent's status
   * writes wait meanwhile (src/agent/foreground.ts), out of the way of what a runtime waits for.
   */
  foreground?(): () => void;
  /** The agent's readiness for STATUS (default: ready). */
  agentStatus?(): AgentReadiness;
  /** MTU when the configuration has none (default 1500). */
  defaultMtu?: number;
  /** Host-side interface prefix (default: the interfacePrefix parameter's). */
  interfacePrefix?: string;
  /** How long ADD waits for the policy to be programmed (default 30000 ms). */
  programTimeoutMs?: number;
  /** How long CHECK waits for the dataplane to confirm the endpoint (default 2000 ms). */
  checkTimeoutMs?: number;
  /**
   * Told the host routes an ADD adds for a workload (`<addr>/32 dev <hostVeth>`, the route
   * protocol below) as soon as its addresses are known, before its endpoint is written or
   * programmed ahead: the agent's route driver takes them as in place instead of adding them
   * itself, which would race the ADD's own (an ADD that fails deletes its veth, and the kernel
   * the routes with it).
   */
  onWorkloadRoutes?(routes: { dst: string; dev: string }[]): void;
  /** Told that the routes reported through `dev` are no longer coming (the attachment's DEL, a failed ADD). */
  onWorkloadRoutesGone?(dev: string): void;
  /** Routing protocol of host routes (default Margay's, 77: the agent's route driver owns them). */
  routeProtocol?: string | number;
  logger?: Logger;
  /** Replaces the kernel plumbing (unit tests). */
  plumbing?: WorkloadPlumbing;
  /** Reads pods from the Kubernetes API (default: one client per API access, made on first use). */
  kube?: PodInfoSource;
}

/** What the command handlers get. */
export interface ServiceContext {
  options: CniServiceOptions;
  plumbing: WorkloadPlumbing;
  locks: KeyedLock;
  log: Logger | undefined;
  mtu(confMtu: number): number;
  /** Profiles already known to exist (the plugin never updates a profile). */
  knownProfiles: Set<string>;
  /** Pods from the Kubernetes API (kubernetes.ts). */
  kube: PodInfoSource;
  /** Recent GC pauses, for the ADD and DEL log lines (only with a logger). */
  gcPauses: GcPauses | undefined;
}

/** A list of undo steps, run newest first. */
export class Undo {
  readonly #steps: { what: string; fn: () => Promise<unknown> }[] = [];

  push(what: string, fn: () => Promise<unknown>): void {
    this.#steps.push({ what, fn });
  }

  /** Runs every step (newest first), logging failures; never throws. */
  async run(log: Logger | undefined): Promise<void> {
    for (const step of this.#steps.splice(0).reverse()) {
      try {
        await step.fn();
      } catch (err) {
        log?.warn({ err: (err as Error).message, step: step.what }, 'rollback step failed');
      }
    }
  }
}
