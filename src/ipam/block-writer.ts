/**
 * One writer per block per process, committing queued requests in groups. Many pods arriving at
 * once on one host all want the same block; instead of each request racing the others with its
 * own compare-and-swap (and losing, re-reading, retrying), requests queue here and every round
 * applies all queued requests to one in-memory copy of the block and writes the block, and the
 * handles whose counts changed, in one etcd transaction. The last block written is kept, so the
 * next round needs no read unless another process changed the block meanwhile (then the
 * transaction fails on the revision, the block is re-read and the round is recomputed).
 *
 * A conclusion drawn only from the kept copy ("the block is full", "that address is free") is
 * checked against a fresh read before it is reported.
 *
 * An allocation may bring one more key to write in the same transaction (its `alongside`: a CNI
 * ADD's WorkloadEndpoint, which then exists exactly when its address does), and may ask for a
 * handle that must be new (a repeated CNI ADD finds it there and allocates nothing); a release
 * by handle may bring the handle record its caller already read. A round whose transaction
 * conflicts is redone without the alongside keys that carry a condition of their own (their
 * callers write them themselves), so that a key someone else changed can never make a block
 * write retry in vain; unconditional ones (`put`) go with the retry.
 */
import type { Datastore, KVPair, TxnOp } from '../datastore/mod.ts';
import { MargayError } from '../errors/mod.ts';
import {
  type AllocationBlock,
  type AssignOutcome,
  type Owner,
  type ReleaseItem,
  type ReleaseOutcome,
  affineHost,
  allocateOrdinals,
  assignOrdinal,
  cloneBlock,
  deallocateCooled,
  decodeBlock,
  encodeBlock,
  freeCount,
  ordinalsOfHandle,
  releaseOrdinals,
  sequenceOf,
} from './block.ts';
import { adjustHandle, decodeHandle, encodeHandle, handleTotal, type HandleRecord } from './handle.ts';
import { handleKey } from './keys.ts';
import { isCasFailure } from './retry.ts';

/** The result of an allocation request. */
export interface AllocResult {
  /** The ordinals allocated (fewer than asked when the block ran out; none when it is gone). */
  ordinals: number[];
  /** The sequence number each allocation was stamped with. */
  sequenceNumber: bigint;
  /** The block no longer exists. */
  gone: boolean;
  /** The block is not (any longer) affine to the required host. */
  affinityMismatch: boolean;
  /** The block's affinity at the time of the write. */
  affinity: string | null;
  /** The revision of the transaction that also wrote the request's `alongside` key; undefined when it did not. */
  alongsideRevision?: number;
  /** The request wanted a new handle and found it there: nothing allocated. */
  handleExists?: boolean;
}

/** An allocation's extra key: given the ordinals allocated (all the request asked for), its write. */
export type Alongside = (ordinals: number[]) => TxnOp;

/** What an allocation may say about its handle and bring along. */
export interface AllocOptions {
  /** Written in the same transaction when all `num` addresses are allocated. */
  alongside?: Alongside;
  /** The handle was written by this request already (its other family's block): read it, do not create it. */
  handleWritten?: boolean;
  /** Only if the handle does not exist: when it does, nothing is allocated and the result says `handleExists`. */
  newHandle?: boolean;
}

/** The result of a request for one ordinal. */
export interface AssignResult {
  outcome: AssignOutcome | 'gone' | 'affinity-mismatch';
  sequenceNumber: bigint;
  affinity: string | null;
  /** The handle holding the ordinal when it was taken. */
  holder?: string;
}

/** The result of a release. */
export interface ReleaseResult extends ReleaseOutcome {
  gone: boolean;
}

interface Pending<R> {
  resolve(result: R): void;
  reject(err: unknown): void;
}

/** Requests a writer takes. */
export type BlockRequest =
  | ({ kind: 'alloc'; num: number; owner: Owner; requireHost?: string; isReserved: (o: number) => boolean } & AllocOptions & Pending<AllocResult>)
  | ({ kind: 'assign'; ordinal: number; owner: Owner; requireHost?: string } & Pending<AssignResult>)
  | ({ kind: 'release'; items: ReleaseItem[] } & Pending<ReleaseResult>)
  | ({ kind: 'release-handle'; handle: string; handleKv?: KVPair } & Pending<ReleaseResult>)
  | ({ kind: 'cool' } & Pending<{ freed: number; gone: boolean }>);

/** What a writer needs from its owner. */
export interface BlockWriterDeps {
  datastore: Datastore;
  /** Bound on conflicting writes per round. */
  maxRetries: number;
  /** Most requests per round (each may add a handle write and an alongside key; see {@link BlockWriter}'s batching). */
  maxBatch: number;
  /** Waits before retry `attempt`. */
  backoff(attempt: number): Promise<void>;
  /** Wall-clock time (ms since the epoch) for cooldowns. */
  nowMs(): number;
  /** The cooldown of released addresses, seconds. */
  cooldownSeconds(): number;
}

interface Held {
  kv: KVPair;
  block: AllocationBlock;
}

type Outcome = { req: BlockRequest; result: unknown };

/** The group-commit writer of one block. */
export class BlockWriter {
  readonly key: string;
  readonly cidr: string;
  readonly #deps: BlockWriterDeps;
  #queue: BlockRequest[] = [];
  #running = false;
  #held: Held | undefined;

  constructor(key: string, cidr: string, deps: BlockWriterDeps) {
    this.key = key;
    this.cidr = cidr;
    this.#deps = deps;
  }

  /**
   * Allocates up to `num` addresses for `owner`; with `requireHost`, only while the block is
   * affine to it; with `alongside`, its key is written in the same transaction when all `num`
   * are allocated.
   */
  alloc(num: number, owner: Owner, options: { requireHost?: string; isReserved: (o: number) => boolean } & AllocOptions): Promise<AllocResult> {
    return this.#submit<AllocResult>((p) => ({ kind: 'alloc', num, owner, ...options, ...p }));
  }

  /** Allocates one particular ordinal. */
  assign(ordinal: number, owner: Owner, requireHost?: string): Promise<AssignResult> {
    return this.#submit<AssignResult>((p) => ({ kind: 'assign', ordinal, owner, ...(requireHost === undefined ? {} : { requireHost }), ...p }));
  }

  /** Releases ordinals (with optional handle and sequence guards). */
  release(items: ReleaseItem[]): Promise<ReleaseResult> {
    return this.#submit<ReleaseResult>((p) => ({ kind: 'release', items, ...p }));
  }

  /** Releases every address of a handle in this block; `handleKv` is the handle's record when the caller has just read it. */
  releaseHandle(handle: string, handleKv?: KVPair): Promise<ReleaseResult> {
    return this.#submit<ReleaseResult>((p) => ({ kind: 'release-handle', handle, ...(handleKv ? { handleKv } : {}), ...p }));
  }

  /** Writes the block back with every address whose cooldown is over freed. */
  deallocateCooled(): Promise<{ freed: number; gone: boolean }> {
    return this.#submit<{ freed: number; gone: boolean }>((p) => ({ kind: 'cool', ...p }));
  }

  /**
   * Free addresses in the kept copy (0 for a block that is gone), or undefined when there is no
   * copy. A hint for ordering blocks: a block that looks full is re-read before it is given up.
   */
  knownFree(isReserved: (o: number) => boolean): number | undefined {
    return this.#held ? freeCount(this.#held.block, isReserved) : undefined;
  }

  /** Forgets the kept copy (the next round reads the block). */
  invalidate(): void {
    this.#held = undefined;
  }

  #submit<R>(make: (p: Pending<R>) => BlockRequest): Promise<R> {
    return new Promise<R>((resolve, reject) => {
      this.#queue.push(make({ resolve, reject } as Pending<R>));
      if (!this.#running) {
        this.#running = true;
        // Let requests made in the same tick join the first round.
        queueMicrotask(() => void this.#drain());
      }
    });
  }

  async #drain(): Promise<void> {
    try {
      while (this.#queue.length > 0) {
        const batch = this.#takeBatch();
        try {
          await this.#commit(batch);
        } catch (err) {
          for (const r of batch) r.reject(err);
        }
      }
    } finally {
      this.#running = false;
    }
  }

  #takeBatch(): BlockRequest[] {
    // The block's write, plus per request at most one handle write and one alongside key: the
    // round stays inside the datastore's operations per transaction (etcd: 128).
    const maxOps = this.#deps.datastore.limits?.maxOps ?? 128;
    let ops = 1;
    let n = 0;
    for (const req of this.#queue) {
      const cost = req.kind === 'alloc' && req.alongside ? 2 : 1;
      if (n >= this.#deps.maxBatch || (n > 0 && ops + cost > maxOps)) break;
      ops += cost;
      n++;
    }
    return this.#queue.splice(0, n);
  }

  async #read(): Promise<Held | undefined> {
    const kv = await this.#deps.datastore.get(this.key);
    if (!kv) return undefined;
    const block = decodeBlock(kv.value);
    return block.deleted ? undefined : { kv, block };
  }

  async #commit(requests: BlockRequest[]): Promise<void> {
    let batch = requests;
    const deps = this.#deps;
    let held = this.#held;
    let fresh = false;
    const knownHandles = new Map<string, KVPair | null>();
    for (const req of batch) if (req.kind === 'release-handle' && req.handleKv) knownHandles.set(req.handle, req.handleKv);
    let handlesSuspect = false;
    let withAlongside = true;
    for (let attempt = 0; ; attempt++) {
      if (!held) {
        held = await this.#read();
        fresh = true;
      }
      if (!held) {
        this.#held = undefined;
        for (const req of batch) settle(req, goneResult(req));
        return;
      }
      const draft = cloneBlock(held.block);
      const cooled = deallocateCooled(draft, deps.nowMs(), deps.cooldownSeconds());
      const nowIso = new Date(deps.nowMs()).toISOString();
      const deltas = new Map<string, number>();
      const outcomes: Outcome[] = batch.map((req) => ({ req, result: apply(draft, req, deltas, nowIso, deps.cooldownSeconds(), cooled) }));
      const changed = cooled > 0 || outcomes.some((o) => changedBlock(o));
      if (!changed) {
        if (!fresh) {
          held = undefined; // a "no" from the kept copy is checked against the datastore
          continue;
        }
        this.#held = held;
        for (const o of outcomes) settle(o.req, o.result);
        return;
      }
      // Handles whose count goes down must be read, and those the request has written already
      // (its other family's block); new handles are assumed absent until a write says otherwise.
      const existing = new Set(batch.flatMap((r) => (r.kind === 'alloc' && r.handleWritten ? [r.owner.handle] : [])));
      const toRead = [...deltas].filter(([h, d]) => d !== 0 && !knownHandles.has(h) && (d < 0 || handlesSuspect || existing.has(h))).map(([h]) => h);
      await Promise.all(toRead.map(async (h) => knownHandles.set(h, (await deps.datastore.get(handleKey(h))) ?? null)));
      // A request for a new handle that is there after all (a repeated CNI ADD) allocates nothing.
      const found = batch.filter((r) => r.kind === 'alloc' && r.newHandle && knownHandles.get(r.owner.handle));
      if (found.length > 0) {
        for (const r of found) settle(r, { ordinals: [], sequenceNumber: 0n, gone: false, affinityMismatch: false, affinity: null, handleExists: true } satisfies AllocResult);
        batch = batch.filter((r) => !found.includes(r));
        if (batch.length === 0) return;
        continue; // the round again without them (nothing was written)
      }
      draft.sequenceNumber += 1n;
      const value = encodeBlock(draft);
      const ops: TxnOp[] = [{ op: 'update', key: this.key, value, modRevision: held.kv.modRevision }];
      for (const [h, d] of deltas) {
        if (d === 0) continue;
        const op = handleOp(h, knownHandles.get(h), this.cidr, d);
        if (op) ops.push(op);
      }
      const carried = withAlongside ? addAlongside(outcomes, ops) : { results: [], conditioned: false };
      try {
        const revision = await deps.datastore.txn(ops);
        this.#held = { kv: { ...held.kv, value, modRevision: revision }, block: draft };
        for (const r of carried.results) r.alongsideRevision = revision;
        for (const o of outcomes) settle(o.req, o.result);
        return;
      } catch (err) {
        this.#held = undefined;
        if (!isCasFailure(err)) throw err;
        // Perhaps a conditional alongside key was the one that failed: the retries go without them.
        if (carried.conditioned) withAlongside = false;
        if (attempt >= deps.maxRetries) {
          throw new MargayError(
            'MARGAY_ERR_CONFLICT',
            `gave up writing IPAM block ${this.cidr} after ${deps.maxRetries} conflicting writes (maxRetries); the datastore is under heavy contention`,
            { cause: err },
          );
        }
        held = undefined;
        fresh = false;
        knownHandles.clear();
        handlesSuspect = true;
        await deps.backoff(attempt);
      }
    }
  }
}

/**
 * Adds the alongside keys of the allocations that got all they asked for to `ops`; returns their
 * results (to be told the revision) and whether any key carries a condition (then it may be what
 * makes the transaction fail). A key already in the transaction is left to its caller.
 */
function addAlongside(outcomes: Outcome[], ops: TxnOp[]): { results: AllocResult[]; conditioned: boolean } {
  const carried = { results: [] as AllocResult[], conditioned: false };
  const keys = new Set(ops.map((op) => op.key));
  for (const { req, result } of outcomes) {
    if (req.kind !== 'alloc' || !req.alongside) continue;
    const r = result as AllocResult;
    if (r.ordinals.length !== req.num) continue;
    const op = req.alongside(r.ordinals);
    if (keys.has(op.key)) continue;
    keys.add(op.key);
    ops.push(op);
    carried.results.push(r);
    carried.conditioned ||= op.op !== 'put';
  }
  return carried;
}

function handleOp(handle: string, current: KVPair | null | undefined, cidr: string, delta: number): TxnOp | undefined {
  const key = handleKey(handle);
  if (!current) {
    return delta > 0 ? { op: 'create', key, value: encodeHandle(adjustHandle(undefined, cidr, delta)) } : undefined;
  }
  let record: HandleRecord | undefined;
  try {
    record = decodeHandle(current.value);
    if (record.deleted) record = undefined;
  } catch {
    record = undefined; // an unreadable record is rebuilt from this block's count
  }
  const next = adjustHandle(record, cidr, delta);
  return handleTotal(next) === 0
    ? { op: 'delete', key, modRevision: current.modRevision }
    : { op: 'update', key, value: encodeHandle(next), modRevision: current.modRevision };
}

function requiredHostMismatch(draft: AllocationBlock, requireHost: string | undefined): boolean {
  return requireHost !== undefined && affineHost(draft) !== requireHost;
}

function addDelta(deltas: Map<string, number>, handle: string, d: number): void {
  deltas.set(handle, (deltas.get(handle) ?? 0) + d);
}

function apply(
  draft: AllocationBlock,
  req: BlockRequest,
  deltas: Map<string, number>,
  nowIso: string,
  cooldownSeconds: number,
  cooled: number,
): unknown {
  switch (req.kind) {
    case 'alloc': {
      if (requiredHostMismatch(draft, req.requireHost)) {
        return { ordinals: [], sequenceNumber: draft.sequenceNumber, gone: false, affinityMismatch: true, affinity: draft.affinity } satisfies AllocResult;
      }
      const ordinals = allocateOrdinals(draft, req.num, req.owner, req.isReserved);
      if (ordinals.length > 0) addDelta(deltas, req.owner.handle, ordinals.length);
      return { ordinals, sequenceNumber: draft.sequenceNumber, gone: false, affinityMismatch: false, affinity: draft.affinity } satisfies AllocResult;
    }
    case 'assign': {
      if (requiredHostMismatch(draft, req.requireHost)) {
        return { outcome: 'affinity-mismatch', sequenceNumber: draft.sequenceNumber, affinity: draft.affinity } satisfies AssignResult;
      }
      const outcome = assignOrdinal(draft, req.ordinal, req.owner);
      if (outcome === 'assigned') addDelta(deltas, req.owner.handle, 1);
      const result: AssignResult = { outcome, sequenceNumber: sequenceOf(draft, req.ordinal), affinity: draft.affinity };
      if (outcome === 'taken') {
        const idx = draft.allocations[req.ordinal];
        const holder = idx === null || idx === undefined ? undefined : draft.attributes[idx]?.handle_id;
        if (typeof holder === 'string') result.holder = holder;
      }
      return result;
    }
    case 'release':
    case 'release-handle': {
      const items = req.kind === 'release' ? req.items : ordinalsOfHandle(draft, req.handle).map((ordinal) => ({ ordinal, handle: req.handle }));
      const out = releaseOrdinals(draft, items, { now: nowIso, cooldownSeconds });
      for (const [h, n] of out.byHandle) addDelta(deltas, h, -n);
      return { ...out, gone: false } satisfies ReleaseResult;
    }
    case 'cool':
      return { freed: cooled, gone: false };
  }
}

function changedBlock(o: Outcome): boolean {
  switch (o.req.kind) {
    case 'alloc':
      return (o.result as AllocResult).ordinals.length > 0;
    case 'assign':
      return (o.result as AssignResult).outcome === 'assigned';
    case 'release':
    case 'release-handle':
      return (o.result as ReleaseResult).released.length > 0;
    case 'cool':
      return false;
  }
}

function goneResult(req: BlockRequest): unknown {
  switch (req.kind) {
    case 'alloc':
      return { ordinals: [], sequenceNumber: 0n, gone: true, affinityMismatch: false, affinity: null } satisfies AllocResult;
    case 'assign':
      return { outcome: 'gone', sequenceNumber: 0n, affinity: null } satisfies AssignResult;
    case 'release':
      return { released: [], notAllocated: req.items.map((i) => i.ordinal), mismatched: [], byHandle: new Map(), gone: true } satisfies ReleaseResult;
    case 'release-handle':
      return { released: [], notAllocated: [], mismatched: [], byHandle: new Map(), gone: true } satisfies ReleaseResult;
    case 'cool':
      return { freed: 0, gone: true };
  }
}

function settle(req: BlockRequest, result: unknown): void {
  (req.resolve as (r: unknown) => void)(result);
}
