/**
 * What stands in for the kernel and its tools during the code cache's warm-up (warm-up.ts): a
 * host without Margay's table. The command runner answers nft's and ip's listings with nothing
 * there and takes every change as applied; the netlink writer takes every batch, and reads a load
 * ahead's stream file as the `margay-netlink` helper does (appended batches, until the stream's
 * end message). What went through each is counted, so the warm-up can tell that it ran the cold
 * start's path (everything by netlink, nothing through nft). No process is spawned, nothing
 * reaches a kernel.
 */
import { closeSync, openSync, readSync } from 'node:fs';
import { NFNL_MSG_BATCH_BEGIN, NLMSG_DONE, NftMsg, type NftElementWriter, nftTypeOf, readNetlinkMessages } from '../dataplane/mod.ts';
import type { CommandRunner } from '../os/mod.ts';

/** What went through the stand-in kernel. */
export interface WarmUpKernelCounts {
  /** Batches of the load-ahead stream, and the chains and sets they create. */
  aheadBatches: number;
  aheadChains: number;
  aheadSets: number;
  aheadBytes: number;
  /** Netlink batches sent one by one (the last transaction), their bytes, and the chains they create. */
  batches: number;
  batchBytes: number;
  batchChains: number;
  /** Transactions that went to nft (text) instead of netlink. */
  nftTransactions: number;
  /** `ip` route listings and batches. */
  ipCommands: number;
}

/** How often the stream file is read for what was appended (the helper blocks on it instead). */
const STREAM_POLL_MS = 1;

/** A host without Margay's table, for the warm-up's real dataplane (see the module comment). */
export class WarmUpKernel {
  readonly counts: WarmUpKernelCounts = { aheadBatches: 0, aheadChains: 0, aheadSets: 0, aheadBytes: 0, batches: 0, batchBytes: 0, batchChains: 0, nftTransactions: 0, ipCommands: 0 };
  /** Stop the streams still being read (the warm-up failed before they ended). */
  readonly #stopStreams = new Set<() => void>();

  /** Runs nft and ip as against that host. */
  readonly runner: CommandRunner = async (cmd, args) => {
    const line = args.join(' ');
    if (cmd === 'ip') {
      this.counts.ipCommands++;
      return { code: 0, stdout: line.includes(' route show ') ? '[]' : '', stderr: '' };
    }
    if (line === '-j list tables inet') return { code: 0, stdout: '{"nftables": [{"metainfo": {"json_schema_version": 1}}]}', stderr: '' };
    if (line.startsWith('-j list table ')) return { code: 1, stdout: '', stderr: 'Error: No such file or directory' };
    this.counts.nftTransactions++;
    return { code: 0, stdout: '', stderr: '' };
  };

  /** Takes netlink batches, and a load ahead's stream, as applied. */
  readonly writer: NftElementWriter = {
    applyBatch: async (batch) => {
      this.counts.batches++;
      this.counts.batchBytes += batch.length;
      this.counts.batchChains += readNetlinkMessages(batch).messages.filter((m) => nftTypeOf(m) === NftMsg.newChain).length;
    },
    streamBatches: (path) => this.#readStream(path),
  };

  /** Ends the streams still being read, as failed (the helper would have been stopped). */
  close(): void {
    for (const stop of [...this.#stopStreams]) stop();
  }

  /** Reads `path` as the driver appends to it, until the end message. */
  #readStream(path: string): Promise<void> {
    const fd = openSync(path, 'r');
    let pending = Buffer.alloc(0);
    let position = 0;
    const chunk = Buffer.allocUnsafe(256 * 1024);
    return new Promise<void>((resolve, reject) => {
      let timer: NodeJS.Timeout | undefined;
      const stop = (): void => finish(new Error('the warm-up stopped before the load-ahead stream ended'));
      const finish = (error?: Error): void => {
        clearTimeout(timer);
        this.#stopStreams.delete(stop);
        closeSync(fd);
        if (error) reject(error);
        else resolve();
      };
      this.#stopStreams.add(stop);
      const poll = (): void => {
        try {
          for (let n = readSync(fd, chunk, 0, chunk.length, position); n > 0; n = readSync(fd, chunk, 0, chunk.length, position)) {
            position += n;
            pending = Buffer.concat([pending, chunk.subarray(0, n)]);
          }
          const { messages, bytes } = readNetlinkMessages(pending);
          pending = pending.subarray(bytes);
          this.counts.aheadBytes += bytes;
          for (const m of messages) {
            if (m.type === NLMSG_DONE) return finish();
            if (m.type === NFNL_MSG_BATCH_BEGIN) this.counts.aheadBatches++;
            const type = nftTypeOf(m);
            if (type === NftMsg.newChain) this.counts.aheadChains++;
            else if (type === NftMsg.newSet) this.counts.aheadSets++;
          }
          timer = setTimeout(poll, STREAM_POLL_MS);
        } catch (err) {
          finish(err instanceof Error ? err : new Error(String(err)));
        }
      };
      poll();
    });
  }
}
