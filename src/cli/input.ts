/**
 * Reads the `-f` inputs of a command: a file, a directory (its .yaml, .yml and .json files,
 * recursively with -R) or `-` for standard input, then decodes and validates every document.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { decodeDocuments, type DecodedDocument, type DecodedResource, toResource } from '../api/decode.ts';
import { MargayError } from '../errors/mod.ts';

const MANIFEST_EXTENSIONS = ['.yaml', '.yml', '.json'];

function listManifestFiles(dir: string, recursive: boolean): string[] {
  const out: string[] = [];
  for (const entry of readdirSync(dir).sort()) {
    const path = join(dir, entry);
    const stat = statSync(path);
    if (stat.isDirectory()) {
      if (recursive) out.push(...listManifestFiles(path, recursive));
    } else if (MANIFEST_EXTENSIONS.some((ext) => entry.endsWith(ext))) {
      out.push(path);
    }
  }
  return out;
}

function readText(file: string): string {
  try {
    return file === '-' ? readFileSync(0, 'utf8') : readFileSync(file, 'utf8');
  } catch (err) {
    const reason = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message;
    throw new MargayError('MARGAY_ERR_USAGE', `${file}: ${reason}`);
  }
}

/** Expands `-f` arguments into the list of files to read. */
export function expandInputs(inputs: string[], recursive: boolean): string[] {
  const files: string[] = [];
  for (const input of inputs) {
    if (input !== '-') {
      let stat;
      try {
        stat = statSync(input);
      } catch {
        throw new MargayError('MARGAY_ERR_USAGE', `${input}: no such file or directory`);
      }
      if (stat.isDirectory()) {
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
  return expandInputs(inputs, recursive).flatMap((file) => decodeDocuments(readText(file), file));
}

/** Reads, decodes and validates every input; throws on the first invalid document. */
export function readResources(inputs: string[], options: { recursive: boolean; namespace?: string }): DecodedResource[] {
  const docs = readDocuments(inputs, options.recursive);
  return docs.map((doc) => ({ source: doc.source, resource: toResource(doc, { defaultNamespace: options.namespace }) }));
}
