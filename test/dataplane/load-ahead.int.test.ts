// A cold start's load ahead on the real kernel, in throwaway namespaces: the ruleset it ends with
// is the one a single transaction loads; a load ahead that fails falls back to the full path; a
// process that dies after the load ahead (kill -9) leaves an inert table, which a restart
// completes to the same ruleset.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DataplaneUpdate } from '../../src/calc/model.ts';
import { Dataplane } from '../../src/dataplane/mod.ts';
import { createRunner, findNetlinkHelper, type CommandRunner } from '../../src/os/mod.ts';
import { createTestNetns, type TestNetns } from '../harness/netns.ts';
import { normalizedRuleset } from '../harness/nft-listing.ts';
import { IN_SYNC, ipPortSet, ipSet, policy, port, settings, tier, workload } from './updates.ts';

const LISTS = 6;
const PER_LIST = 5;

/** 30 policies over IP sets and ports, in 6 policy lists of 5 (dispatched by port), 12 workloads. */
function coldStart(): DataplaneUpdate[] {
  const updates: DataplaneUpdate[] = [settings({ allPools: ['10.244.0.0/16'], natOutgoingPools: ['10.244.0.0/16'] })];
  for (let i = 0; i < LISTS * PER_LIST; i++) {
    updates.push(ipSet(`s:peers-${i}`, [`10.244.${i}.0/24`, `10.245.0.${i + 1}/32`]));
    updates.push(
      policy(`np/ns/p${i}`, {
        tier: 'default',
        ingress: [{ action: 'allow', protocol: 6, src: { ipSets: [`s:peers-${i}`] }, dst: { ports: [port(8000 + i), port(9000, 9100)] } }],
        egress: [{ action: 'allow', protocol: 17, dst: { ports: [port(53)] } }, { action: 'deny', protocol: 6, dst: { ports: [port(25)] } }],
      }),
    );
  }
  updates.push(ipPortSet('n:web', ['10.244.0.2,tcp:80']));
  // A port without a protocol: the rule uses the fixed set of protocols with ports.
  updates.push(policy('np/ns/p0', { tier: 'default', ingress: [{ action: 'allow', dst: { ports: [port(7)] } }], egress: [{ action: 'allow', protocol: 17, dst: { ports: [port(53)] } }] }));
  updates.push(policy('pro/kns.ns', { ingress: [{ action: 'allow' }], egress: [{ action: 'allow' }] }));
  for (let w = 0; w < 2 * LISTS; w++) {
    const l = w % LISTS;
    const keys = Array.from({ length: PER_LIST }, (_, k) => `np/ns/p${l * PER_LIST + k}`);
    updates.push(workload(`ns/w${w}`, `cali${w}x`, [`10.244.1.${w + 10}/32`], { tiers: [tier('default', { ingress: keys, egress: keys })], profiles: ['pro/kns.ns'] }));
  }
  updates.push(IN_SYNC);
  return updates;
}

/** A runner into `ns` that lets `hook` answer or fail some commands first. */
function runnerWith(ns: TestNetns, hook: (args: readonly string[]) => { code: number; stdout: string; stderr: string } | undefined): CommandRunner {
  const real = createRunner({ netns: ns.name, timeoutMs: 60_000 });
  return async (cmd, args, options) => {
    const answer = hook(args);
    if (answer === undefined) return real(cmd, args, options);
    if (answer.code !== 0 && !options?.allowFail) throw new Error(`${cmd} ${args.join(' ')}: ${answer.stderr}`);
    return answer;
  };
}

const NO_TABLES = { code: 0, stdout: '{"nftables": [{"metainfo": {"version": "1.0.6"}}]}', stderr: '' };

describe('dataplane - a cold start loads ahead (real kernel)', () => {
  let single: TestNetns;
  let expected: string;
  const made: TestNetns[] = [];
  const fresh = async (): Promise<TestNetns> => {
    const ns = await createTestNetns('mgla');
    made.push(ns);
    return ns;
  };

  before(async () => {
    single = await fresh();
    const dp = new Dataplane({ netns: single.name, loadAheadMinPolicies: false });
    try {
      const res = await dp.apply(coldStart());
      assert.ok(res.ok, String(res.nft.error));
      assert.equal(res.nft.ahead, undefined, 'one transaction');
      expected = await normalizedRuleset(single);
    } finally {
      dp.close();
    }
  });
  after(async () => {
    for (const ns of made) await ns.delete();
  });

  for (const netlink of [false, true]) {
    const via = netlink ? 'netlink batches (helper)' : 'nft -f';
    it(`ends with the ruleset a single transaction loads, and a full comparison finds nothing to do (${via})`, async () => {
      const ns = await fresh();
      const dp = new Dataplane({ netns: ns.name, loadAheadMinPolicies: 1, loadAheadNetlink: netlink });
      try {
        const res = await dp.apply(coldStart());
        assert.ok(res.ok, String(res.nft.error));
        assert.equal(res.nft.ahead?.error, undefined);
        assert.ok((res.nft.ahead?.commands ?? 0) > LISTS * PER_LIST * 2, 'the policy chains went ahead');
        assert.match(dp.lastTransaction, /hook forward/, 'the base chains come with the full apply');
        assert.doesNotMatch(dp.lastTransaction, /add chain inet margay pi-np\/ns\/p0 /, 'not the policy chains again');
        // By netlink, the sets went ahead, and the last transaction (base chains last) went by netlink too.
        if (netlink) assert.doesNotMatch(dp.lastTransaction, /add set inet margay v4p-n\.web /, 'a plain set went ahead');
        if (netlink) assert.equal(res.nft.via, 'netlink', dp.lastTransaction);
        assert.equal(await normalizedRuleset(ns), expected);
        const again = await dp.resync();
        assert.equal(again.nft.commands, 0, dp.lastTransaction);
      } finally {
        dp.close();
      }
    });

    it(`falls back to reading the kernel and comparing everything when the load ahead fails (${via})`, async () => {
      const ns = await fresh();
      // A table appears between the probe and the load ahead (the probe is told there is none).
      await ns.exec('nft', ['-f', '-'], { input: 'table inet margay {\n chain stray { counter; }\n}\n' });
      const dp = new Dataplane({
        netns: ns.name,
        runner: runnerWith(ns, (args) => (args.includes('tables') ? NO_TABLES : undefined)),
        loadAheadMinPolicies: 1,
        ...(netlink ? { netlinkHelper: findNetlinkHelper() ?? assert.fail('margay-netlink is not built'), loadAheadNetlink: true } : {}),
      });
      try {
        const res = await dp.apply(coldStart());
        assert.match(String(res.nft.ahead?.error), /exists/i);
        assert.ok(res.ok, String(res.nft.error));
        assert.equal(res.nft.fullSync, true);
        assert.equal(await normalizedRuleset(ns), expected, 'the stray chain is gone, the rest as a single load');
      } finally {
        dp.close();
      }
    });

    it(`a process killed after the load ahead leaves an inert table, and a restart completes it (${via})`, async () => {
      const ns = await fresh();
      // The process "dies" after the load ahead: nothing after it reaches the kernel.
      let ahead = false;
      const dying = runnerWith(ns, (args) => {
        if (!args.includes('-f')) return undefined;
        if (!ahead && !netlink) {
          ahead = true;
          return undefined;
        }
        return { code: 1, stdout: '', stderr: 'killed' };
      });
      // The last transaction through nft, which the dying runner refuses (by netlink it would go in).
      const switchOn = process.env.MARGAY_SWITCH_ON;
      process.env.MARGAY_SWITCH_ON = 'nft';
      const first = new Dataplane({
        netns: ns.name,
        runner: dying,
        loadAheadMinPolicies: 1,
        ...(netlink ? { netlinkHelper: findNetlinkHelper() ?? assert.fail('margay-netlink is not built'), loadAheadNetlink: true } : {}),
      });
      if (switchOn === undefined) delete process.env.MARGAY_SWITCH_ON;
      else process.env.MARGAY_SWITCH_ON = switchOn;
      try {
        const res = await first.apply(coldStart());
        assert.equal(res.nft.ahead?.error, undefined);
        assert.ok(res.nft.error, 'the rest never went in');
      } finally {
        first.close();
      }
      const chains = (await ns.exec('nft', ['list', 'chains', 'inet'])).stdout;
      assert.match(chains, /chain pi-np\/ns\/p0 /);
      assert.doesNotMatch(chains, /hook/, 'no base chain: no packet reaches the table');
      const restarted = new Dataplane({ netns: ns.name, loadAheadMinPolicies: 1 });
      try {
        const res = await restarted.apply(coldStart());
        assert.ok(res.ok, String(res.nft.error));
        assert.equal(res.nft.ahead, undefined, 'over an existing table: the full comparison, not a load ahead');
        assert.equal(await normalizedRuleset(ns), expected);
      } finally {
        restarted.close();
      }
    });
  }
});
