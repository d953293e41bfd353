/**
 * Fuzz: the real CNI plugin binary (native/cni-client.c) with mutated network configurations and
 * CNI environments, against the agent's real CNI endpoint (on the in-memory datastore, kernel
 * plumbing recorded) and against no agent at all. Whatever the input, stdout is one well-formed
 * JSON object (or nothing, for a successful DEL/CHECK/GC/STATUS), the exit code is 0 or 1, an
 * error carries a version and one of the specification's codes, and what the plugin refuses on its
 * own the agent refuses the same way.
 */
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import fc from 'fast-check';
import { startCniService, type CniServer } from '../../src/cni/server.ts';
import { CLIENT, ensureClient, runPlugin, type PluginRun } from '../cni/binary.ts';
import { makeService } from '../cni/fakes.ts';
import { cniConfigText, cniEnvironment, EMPTY_CNI_PATH, runs } from './arbitraries.ts';
import { Tally } from './checks.ts';

/** Every code a Margay plugin may print (docs/cni.md). */
const CODES = new Set([1, 2, 3, 4, 5, 6, 7, 11, 50, 51, 100, 101, 999]);
/** The codes the plugin decides without the agent. */
const LOCAL = new Set([1, 4, 6, 7]);

let dir: string;
let cni: CniServer;

before(async () => {
  ensureClient();
  mkdirSync(EMPTY_CNI_PATH, { recursive: true });
  dir = mkdtempSync(join(tmpdir(), 'margay-fuzz-cni-'));
  const t = await makeService();
  cni = await startCniService({ store: t.store, ipam: t.ipam, hostname: 'node1', plumbing: t.plumbing, socketPath: join(dir, 'cni.sock'), waitForEndpointProgrammed: async () => undefined });
});
after(async () => {
  await cni?.close();
  rmSync(dir, { recursive: true, force: true });
  rmSync(EMPTY_CNI_PATH, { recursive: true, force: true });
});

/** The shape every run must have; returns the error code, or undefined for a success. */
function checkRun(run: PluginRun, what: string): number | undefined {
  assert.ok(run.code === 0 || run.code === 1, `${what}: exit ${run.code}`);
  const out = run.stdout.trim();
  if (run.code === 0 && out === '') return undefined;
  assert.equal(run.stdout.trimEnd().split('\n').length, 1, `${what}: one line of JSON: ${run.stdout.slice(0, 300)}`);
  assert.ok(run.json && typeof run.json === 'object' && !Array.isArray(run.json), `${what}: not a JSON object: ${run.stdout.slice(0, 300)}`);
  if (run.code === 0) return undefined;
  const { cniVersion, code, msg, details } = run.json as Record<string, unknown>;
  assert.match(String(cniVersion), /^\d{1,9}\.\d{1,9}\.\d{1,9}$/, `${what}: cniVersion ${JSON.stringify(cniVersion)}`);
  assert.ok(typeof code === 'number' && CODES.has(code), `${what}: code ${JSON.stringify(code)}`);
  assert.ok(typeof msg === 'string' && msg.length > 0 && msg.length <= 2000, `${what}: msg`);
  assert.doesNotMatch(`${msg} ${details ?? ''}`, /^\s+at .*:\d+:\d+/m, `${what}: a stack trace`);
  return code as number;
}

describe('fuzz - the CNI plugin binary', () => {
  it('any configuration and environment: one well-formed answer; the plugin and the agent agree (300 cases)', { timeout: 300_000 }, async () => {
    const tally = new Tally();
    await fc.assert(
      fc.asyncProperty(cniConfigText, cniEnvironment, async (conf, { env, valid }) => {
        const what = `env ${JSON.stringify(env).slice(0, 300)} conf ${JSON.stringify(conf.slice(0, 300))}`;
        const alone = await runPlugin(CLIENT, { ...env, MARGAY_CNI_SOCKET: join(dir, 'missing.sock') }, conf);
        const aloneCode = checkRun(alone, `no agent: ${what}`);
        const withAgent = await runPlugin(CLIENT, { ...env, MARGAY_CNI_SOCKET: cni.socketPath }, conf);
        const agentCode = checkRun(withAgent, `agent: ${what}`);
        if (aloneCode !== undefined && LOCAL.has(aloneCode)) {
          assert.notEqual(withAgent.code, 0, `${what}: refused alone (${aloneCode}) but accepted by the agent`);
          if (valid) assert.equal(agentCode, aloneCode, `${what}: the plugin said ${aloneCode}, the agent ${agentCode}`);
        }
        tally.add(agentCode === undefined ? 'ok' : `code ${agentCode}`);
      }),
      runs(300),
    );
    console.log(`# CNI plugin: ${tally.total} cases (each run alone and against the agent): ${tally}`);
  });
});
