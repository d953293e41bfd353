/**
 * The bytes of one connection read so far, kept in one buffer that grows by doubling: appending
 * n bytes in any number of chunks copies O(n) bytes in all (a concatenation of every chunk read
 * so far on each new chunk copied O(n²) for a client trickling its request a byte at a time).
 * The usual request arrives in one chunk, which is kept as it is, without a copy. Pure.
 */
export class ReadBuffer {
  #buf: Buffer = Buffer.alloc(0);
  #length = 0;
  #copied = 0;

  /** Bytes held. */
  get length(): number {
    return this.#length;
  }

  /** Bytes copied by appends so far (for tests: at most about three times {@link length}). */
  get copiedBytes(): number {
    return this.#copied;
  }

  /** Adds `chunk` after the bytes held. */
  append(chunk: Buffer): void {
    if (this.#length === 0) {
      this.#buf = chunk; // the common case: the whole request in one chunk, not copied
      this.#length = chunk.length;
      return;
    }
    const needed = this.#length + chunk.length;
    if (needed > this.#buf.length) this.#grow(needed); // always after the first chunk, which is not ours
    chunk.copy(this.#buf, this.#length);
    this.#copied += chunk.length;
    this.#length = needed;
  }

  /** The bytes held (a view, valid until the next append). */
  bytes(): Buffer {
    return this.#buf.subarray(0, this.#length);
  }

  /**
   * Where `text` (ASCII) first occurs in the bytes held at or after `from`, or -1. A caller
   * scanning as bytes arrive passes where its last scan ended, less the text's length minus one.
   */
  indexOf(text: string, from = 0): number {
    return this.bytes().indexOf(text, Math.max(0, from), 'latin1');
  }

  #grow(needed: number): void {
    const next = Buffer.allocUnsafe(Math.max(needed, 2 * this.#buf.length, 1024));
    this.#buf.copy(next, 0, 0, this.#length);
    this.#copied += this.#length;
    this.#buf = next;
  }
}
