/** Helpers for the BIRD renderer tests: resources, a base snapshot, and the real `bird -p` check. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderBirdConfig } from '../../src/bgp/bird-config.ts';
import type { BirdConfigInput, BirdConfigResult } from '../../src/bgp/types.ts';
import type { Resource } from '../../src/api/resource.ts';
import { validateResource } from '../../src/api/validate.ts';

/** A validated resource with defaults, as stored. */
export function res(kind: string, name: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}): Resource {
  return validateResource({ apiVersion: 'projectcalico.org/v3', kind, metadata: { name, ...metadata }, spec });
}

/** A Node with a BGP IPv4 (and optionally IPv6) address. */
export function node(name: string, ipv4: string | undefined, bgp: Record<string, unknown> = {}, labels?: Record<string, string>): Resource {
  const b = { ...(ipv4 ? { ipv4Address: ipv4 } : {}), ...bgp };
  return res('Node', name, Object.keys(b).length > 0 ? { bgp: b } : {}, labels ? { labels } : {});
}

/** Three nodes on 192.0.2.0/24 and one pool: the starting point of most tests. */
export function baseInput(overrides: Partial<BirdConfigInput> = {}): BirdConfigInput {
  return {
    nodeName: 'node-a',
    bgpConfigurations: [],
    nodes: [node('node-a', '192.0.2.11/24'), node('node-b', '192.0.2.12/24'), node('node-c', '192.0.2.13/24')],
    peers: [],
    filters: [],
    pools: [res('IPPool', 'default-ipv4-ippool', { cidr: '10.244.0.0/16' })],
    affineBlocks: ['10.244.1.0/26'],
    ...overrides,
  };
}

let checkDir: string | undefined;
let seq = 0;

/** Runs the real `bird -p -c FILE` on a configuration; asserts it parses and passes BIRD's checks. */
export function assertBirdParses(text: string): void {
  if (checkDir === undefined) {
    const dir = mkdtempSync(join(tmpdir(), 'margay-birdp-'));
    checkDir = dir;
    // The folder goes with the test process, whatever the outcome.
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  const file = join(checkDir, `bird-${process.pid}-${seq++}.conf`);
  writeFileSync(file, text);
  const res = spawnSync('bird', ['-p', '-c', file], { encoding: 'utf8' });
  if (res.error) throw new Error(`cannot run bird -p (install bird2): ${res.error.message}`);
  const numbered = text.split('\n').map((l, i) => `${String(i + 1).padStart(4)} ${l}`).join('\n');
  assert.equal(res.status, 0, `bird -p rejected the configuration: ${res.stderr.trim()}\n${numbered}`);
  rmSync(file, { force: true });
}

/** Renders, checks with `bird -p`, and returns the result. */
export function render(input: BirdConfigInput): BirdConfigResult {
  const result = renderBirdConfig(input);
  assertBirdParses(result.text);
  return result;
}

/** The `protocol bgp NAME ... }` block of a configuration (up to the protocol's closing brace). */
export function protocolBlock(text: string, name: string): string {
  const start = text.indexOf(`protocol bgp ${name} `);
  assert.ok(start >= 0, `no protocol ${name} in:\n${text}`);
  const end = text.indexOf('\n}\n', start);
  return text.slice(start, end + 2);
}

/** Names of the BGP protocols of a configuration. */
export function protocolNames(text: string): string[] {
  return [...text.matchAll(/^protocol bgp (\S+) from/gm)].map((m) => m[1]!);
}
