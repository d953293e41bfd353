// The agent killed (kill -9) in the middle of a cold start's load ahead, on the real kernel: the
// table it leaves holds no base chain (no packet reaches it), and the restarted agent completes it
// to the ruleset an uninterrupted cold start makes. Host and etcd are throwaway; at the scale of
// bench/fixtures/scale.ts (fewer endpoints) so that the load ahead takes place and lasts.
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { after, before, describe, it } from 'node:test';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { ResourceStore } from '../../src/datastore/resources.ts';
import { createScaleInterfaces, writeScaleResources } from '../../bench/fixtures/scale.ts';
import { startEtcd, type EtcdHandle } from '../harness/etcd.ts';
import type { TestNetns } from '../harness/netns.ts';
import { normalizedRuleset } from '../harness/nft-listing.ts';
import { createHost, startAgent, type AgentProcess } from './lab.ts';

const ENDPOINTS = 300;
const POLICIES = 3000;

describe('agent - kill -9 during a cold start', () => {
  let etcd: EtcdHandle;
  let host: TestNetns;
  let agent: AgentProcess | undefined;

  before(async () => {
    etcd = await startEtcd();
    host = await createHost();
    const ds = new EtcdDatastore({ endpoints: etcd.endpoints, tls: {} });
    try {
      await writeScaleResources(new ResourceStore(ds), ENDPOINTS, POLICIES);
    } finally {
      await ds.close();
    }
    await createScaleInterfaces(host.name, ENDPOINTS);
  });
  after(async () => {
    await agent?.destroy();
    await host?.delete();
    await etcd?.destroy();
  });

  it('leaves an inert table, and the restarted agent completes it as a cold start does', async () => {
    agent = await startAgent({ etcdEndpoints: etcd.endpoints, hostname: 'host1', netns: host.name });
    // Killed as soon as the table appears: the load ahead is going in, the rest is not. The
    // netlink stream of the load ahead makes that window short at this scale, so the agent is
    // stopped (SIGSTOP) as soon as the stream's file exists, and let run a millisecond at a time
    // until the helper has created the table: nothing after the load ahead can happen meanwhile.
    const pid = agent.pid!;
    const streamFile = `margay-ahead-${pid}-`;
    for (let polls = 0; !readdirSync(tmpdir()).some((f) => f.startsWith(streamFile)); polls++) {
      assert.ok(agent.running, `the agent exited:\n${agent.logs().slice(-2000)}`);
      assert.ok(polls < 120_000, `no load ahead:\n${agent.logs().slice(-2000)}`);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    process.kill(pid, 'SIGSTOP');
    for (let polls = 0; ; polls++) {
      const tables = await host.exec('nft', ['list', 'tables', 'inet'], { allowFail: true });
      if (/table inet margay/.test(tables.stdout)) break;
      assert.ok(polls < 2_000, `no table yet:\n${agent.logs().slice(-2000)}`);
      process.kill(pid, 'SIGCONT');
      await new Promise((resolve) => setTimeout(resolve, 1));
      process.kill(pid, 'SIGSTOP');
    }
    assert.equal(await agent.kill('SIGKILL'), null);
    const chains = (await host.exec('nft', ['list', 'chains', 'inet'])).stdout;
    assert.match(chains, /chain pi-/, 'the policy chains went ahead');
    assert.doesNotMatch(chains, /hook/, 'no base chain: no packet reaches the table yet');

    await agent.restart();
    await agent.waitReady(120_000);
    const restarted = await normalizedRuleset(host);

    // An uninterrupted cold start of the same host.
    assert.equal(await agent.kill('SIGTERM'), 0);
    await host.exec('nft', ['delete', 'table', 'inet', 'margay']);
    await agent.restart();
    await agent.waitReady(120_000);
    assert.match((await host.exec('nft', ['list', 'chains', 'inet'])).stdout, /hook forward/);
    assert.equal(restarted, await normalizedRuleset(host));
  });
});
