import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ReadBuffer } from '../../src/cni/read-buffer.ts';

describe('the bytes of a connection read so far', () => {
  it('holds the chunks in order, the first one without a copy', () => {
    const read = new ReadBuffer();
    const first = Buffer.from('POST /v1/cni');
    read.append(first);
    assert.equal(read.bytes().buffer, first.buffer);
    assert.equal(read.copiedBytes, 0);
    read.append(Buffer.from(' HTTP/1.1\r\n'));
    read.append(Buffer.from('\r\nbody'));
    assert.equal(read.bytes().toString('latin1'), 'POST /v1/cni HTTP/1.1\r\n\r\nbody');
    assert.equal(read.length, 29);
    assert.equal(first.toString(), 'POST /v1/cni', 'the first chunk is not written to');
  });

  it('copies a number of bytes linear in the total, however small the chunks', () => {
    const read = new ReadBuffer();
    const n = 200_000;
    for (let i = 0; i < n; i++) read.append(Buffer.from([i % 251]));
    assert.equal(read.length, n);
    assert.ok(read.copiedBytes <= 3 * n, `${read.copiedBytes} bytes copied for ${n}`);
    const bytes = read.bytes();
    for (let i = 0; i < n; i += 997) assert.equal(bytes[i], i % 251);
  });

  it('finds a text from where the last scan ended, also across chunk boundaries', () => {
    const read = new ReadBuffer();
    let scanned = 0;
    let found = -1;
    for (const part of ['head\r', '\n', '\r', '\nbody']) {
      read.append(Buffer.from(part));
      found = read.indexOf('\r\n\r\n', scanned - 3);
      if (found >= 0) break;
      scanned = read.length;
    }
    assert.equal(found, 4);
    assert.equal(read.indexOf('x'), -1);
  });
});
