/**
 * Fuzzing the manifest decoder: random mutations of valid manifests (and random bytes) must
 * either decode or fail with a MargayError — never crash with anything else.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { decodeResources } from '../../src/api/decode.ts';
import { MargayError } from '../../src/errors/mod.ts';

const here = dirname(fileURLToPath(import.meta.url));
const seeds = [resolve(here, '../../examples'), resolve(here, '../../../shared/conformance/manifests/valid')]
  .flatMap((dir) => readdirSync(dir).filter((f) => f.endsWith('.yaml')).map((f) => readFileSync(join(dir, f), 'utf8')));

/** A small deterministic PRNG (mulberry32) so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const FRAGMENTS = ['', ' ', '\n', ':', '- ', '{', '}', '[', ']', '"', "'", '!!', '&a', '*a', '---', 'null', '~', '-1', '1e400',
  '0x1F', 'true', 'spec', 'metadata', 'ports', '65536', '"1:0"', 'selector', '==', '&&', '||', 'has(', '\t', '#', '%YAML 1.2', '<<: *a'];

function mutate(text: string, rand: () => number): string {
  const ops = 1 + Math.floor(rand() * 4);
  let out = text;
  for (let i = 0; i < ops; i++) {
    const at = Math.floor(rand() * (out.length + 1));
    const choice = rand();
    if (choice < 0.4) {
      const frag = FRAGMENTS[Math.floor(rand() * FRAGMENTS.length)]!;
      out = out.slice(0, at) + frag + out.slice(at);
    } else if (choice < 0.7) {
      out = out.slice(0, at) + out.slice(at + 1 + Math.floor(rand() * 8));
    } else if (choice < 0.85) {
      const lines = out.split('\n');
      const a = Math.floor(rand() * lines.length);
      const b = Math.floor(rand() * lines.length);
      [lines[a], lines[b]] = [lines[b]!, lines[a]!];
      out = lines.join('\n');
    } else {
      out = out.slice(0, at) + String.fromCharCode(Math.floor(rand() * 128)) + out.slice(at);
    }
  }
  return out;
}

test('decoder fuzz - mutated manifests never crash', () => {
  const rand = prng(20261126);
  let accepted = 0;
  let refused = 0;
  for (let i = 0; i < 6000; i++) {
    const seed = seeds[Math.floor(rand() * seeds.length)]!;
    const text = mutate(seed, rand);
    try {
      decodeResources(text, 'fuzz.yaml');
      accepted++;
    } catch (err) {
      if (!(err instanceof MargayError)) {
        assert.fail(`iteration ${i}: ${(err as Error)?.stack ?? String(err)}\n--- input ---\n${text}`);
      }
      assert.ok(err.message.length > 0 && !err.message.includes('\n    at '), 'one readable message');
      refused++;
    }
  }
  assert.ok(accepted > 0 && refused > 0, `both outcomes seen (accepted ${accepted}, refused ${refused})`);
});

test('decoder fuzz - random bytes never crash', () => {
  const rand = prng(7);
  for (let i = 0; i < 3000; i++) {
    const length = Math.floor(rand() * 200);
    const text = Array.from({ length }, () => String.fromCharCode(Math.floor(rand() * 256))).join('');
    try {
      decodeResources(text, 'bytes.yaml');
    } catch (err) {
      if (!(err instanceof MargayError)) assert.fail(`iteration ${i}: ${String(err)}\n${JSON.stringify(text)}`);
    }
  }
});
