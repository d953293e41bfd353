/**
 * Reads the `-f` inputs of a command: a file, a directory (its .yaml, .yml and .json files,
 * recursively with -R) or `-` for standard input, then decodes and validates every document.
 */
import { closeSync, lstatSync, openSync, readdirSync, readlinkSync, readSync, realpathSync, type Stats, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeDocuments, type DecodedDocument, type DecodedResource, toResource } from '../api/mod.ts';
import { MAX_INPUT_BYTES } from '../api/mod.ts';
import { MargayError } from '../errors/mod.ts';

const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];

/** Where a symbolic link points, when `path` is one. */
function linkTarget(path: string): string | undefined {
  try {
    return lstatSync(path).isSymbolicLink() ? readlinkSync(path) : undefined;
  } catch {
    return undefined;
  }
}

/** Why `path` cannot be read, in words. */
function fsReason(path: string, err: unknown): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case 'ENOENT': {
      const target = linkTarget(path);
      return target === undefined ? 'no such file or directory' : `a symbolic link to ${JSON.stringify(target)}, which does not exist`;
    }
    case 'ELOOP':
      return 'a loop of symbolic links';
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'EISDIR':
      return 'is a directory';
    case 'ENOTDIR':
      return 'a part of the path is not a directory';
    default:
      return (err as Error).message;
  }
}

/** `fn(path)`, with a file-system failure turned into a usage error naming the path. */
function onPath<T>(path: string, fn: (path: string) => T): T {
  try {
    return fn(path);
  } catch (err) {
    throw new MargayError('MARGAY_ERR_USAGE', `${path}: ${fsReason(path, err)}`, { cause: err });
  }
}

/**
 * The manifest files of a directory, sorted; with `recursive`, of its subdirectories too.
 * Symbolic links are followed; one that leads back into a directory being read is refused, as
 * is one that leads nowhere (when it names a manifest or is met under -R).
 */
function listManifestFiles(dir: string, recursive: boolean, open: readonly string[] = [onPath(dir, (d) => realpathSync(d))]): string[] {
  const out: string[] = [];
  for (const entry of onPath(dir, (d) => readdirSync(d)).sort()) {
    const path = join(dir, entry);
    const manifest = MANIFEST_EXTENSIONS.some((ext) => entry.endsWith(ext));
    let stat: Stats;
    try {
      stat = statSync(path);
    } catch (err) {
      if (!manifest && !recursive) continue; // not something we would read
      throw new MargayError('MARGAY_ERR_USAGE', `${path}: ${fsReason(path, err)}`, { cause: err });
    }
    if (stat.isDirectory()) {
      if (!recursive) continue;
      const real = onPath(path, (p) => realpathSync(p));
      if (open.includes(real)) throw new MargayError('MARGAY_ERR_USAGE', `${path}: a symbolic link loop (it leads back to ${real}, which -R is already reading)`);
      out.push(...listManifestFiles(path, recursive, [...open, real]));
    } else if (manifest) {
      out.push(path);
    }
  }
  return out;
}

/**
 * Reads a file or standard input whole, but never more than what is left of the input limit
 * (MARGAY_ERR_TOO_LARGE beyond): a huge file, or a device that never ends, is refused, not read.
 */
function readText(file: string, budget: { left: number }): string {
  const fd = file === '-' ? 0 : onPath(file, (f) => openSync(f, 'r'));
  const chunks: Buffer[] = [];
  try {
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(1 << 20, budget.left + 1));
      const n = onPath(file, () => readChunk(fd, chunk));
      if (n === 0) break;
      budget.left -= n;
      if (budget.left < 0) throw new MargayError('MARGAY_ERR_TOO_LARGE', `${file}: the input is larger than ${MAX_INPUT_BYTES} bytes (all -f inputs together)`);
      chunks.push(chunk.subarray(0, n));
    }
  } finally {
    if (fd !== 0) closeSync(fd);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** One read; a non-blocking standard input that has nothing yet is waited for. */
function readChunk(fd: number, buffer: Buffer): number {
  for (;;) {
    try {
      return readSync(fd, buffer, 0, buffer.length, null);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') throw err;
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10);
    }
  }
}

/** Expands `-f` arguments into the list of files to read. */
export function expandInputs(inputs: string[], recursive: boolean): string[] {
  const files: string[] = [];
  for (const input of inputs) {
    if (input !== '-') {
      if (onPath(input, (p) => statSync(p)).isDirectory()) {
        files.push(...listManifestFiles(input, recursive));
        continue;
      }
    }
    files.push(input);
  }
  return files;
}

/** Reads and splits every input into documents (not yet validated). */
export function readDocuments(inputs: string[], recursive: boolean): DecodedDocument[] {
  const budget = { left: MAX_INPUT_BYTES };
  return expandInputs(inputs, recursive).flatMap((file) => decodeDocuments(readText(file, budget), file));
}

/** Reads, decodes and validates every input; throws on the first invalid document. */
export function readResources(inputs: string[], options: { recursive: boolean; namespace?: string }): DecodedResource[] {
  const docs = readDocuments(inputs, options.recursive);
  return docs.map((doc) => ({ source: doc.source, resource: toResource(doc, { defaultNamespace: options.namespace }) }));
}
