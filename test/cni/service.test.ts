import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import { profileKind } from '../../src/api/kinds/profile.ts';
import { NETWORK_ANNOTATION } from '../../src/cni/main-plugin.ts';
import { SUPPORTED_VERSIONS } from '../../src/cni/spec.ts';
import { handleKey } from '../../src/ipam/keys.ts';
import { FaultyDatastore, type Fault } from '../datastore/faulty.ts';
import type { TxnOp } from '../../src/datastore/datastore.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { env, fails, FakePlumbing, makeService, netconf, ok } from './fakes.ts';

type Result = { ips: { address: string }[]; interfaces: { name: string; mac?: string; sandbox?: string }[]; routes: { dst: string; gw?: string }[] };

async function handleCount(ds: { list(p: string): Promise<{ items: unknown[] }> }): Promise<number> {
  return (await ds.list('/calico/ipam/v2/handle/')).items.length;
}

describe('cni service - ADD', () => {
  it('assigns from the pool, plumbs, writes the endpoint, waits for the dataplane, then answers', async () => {
    const t = await makeService();
    const result = (await ok(t.service, env('ADD', 'ctr1', { CNI_ARGS: 'IgnoreUnknown=1' }), netconf({ mtu: 1400, args: { cni: { labels: [{ key: 'app', value: 'web' }] } } }))) as unknown as Result;
    assert.match(result.ips[0]!.address, /^10\.244\.0\.\d+\/32$/);
    assert.deepEqual(result.routes, [{ dst: '0.0.0.0/0', gw: '169.254.1.1' }]);
    assert.equal(result.interfaces[1]!.sandbox, '/run/netns/c1');
    const veth = [...t.plumbing.veths.values()][0]!;
    assert.equal(veth.mtu, 1400);
    assert.equal(veth.containerMac, result.interfaces[1]!.mac);
    const { items } = await t.store.list(workloadEndpointKind, 'default');
    assert.equal(items.length, 1);
    const wep = items[0]!;
    assert.equal(wep.metadata.name, 'node1-cni-ctr1-eth0');
    assert.equal(wep.metadata.labels?.app, 'web');
    assert.equal(wep.metadata.labels?.['projectcalico.org/orchestrator'], 'cni');
    assert.equal(wep.metadata.annotations?.[NETWORK_ANNOTATION], 'mnet');
    assert.deepEqual(wep.spec, {
      orchestrator: 'cni',
      node: 'node1',
      containerID: 'ctr1',
      workload: 'ctr1',
      endpoint: 'eth0',
      interfaceName: veth.hostVeth,
      mac: veth.containerMac,
      ipNetworks: [result.ips[0]!.address],
      profiles: ['mnet'],
    });
    assert.deepEqual(t.waits, [{ namespace: 'default', name: 'node1-cni-ctr1-eth0', revision: Number(wep.metadata.resourceVersion) }]);
    // The agent's route driver is told of the route the plumbing adds (it leaves that route to the CNI).
    assert.deepEqual(t.routesAdded, [[{ dst: result.ips[0]!.address, dev: veth.hostVeth }]]);
    assert.deepEqual(await t.ipam.ipsByHandle('mnet.ctr1'), [result.ips[0]!.address.replace('/32', '')]);
    // Calico's network profile for plain containers.
    const profile = await t.store.get(profileKind, 'mnet');
    assert.deepEqual(profile?.spec, { egress: [{ action: 'Allow' }], ingress: [{ action: 'Allow', source: { selector: 'has(mnet)' } }], labelsToApply: { mnet: '' } });
  });

  it('a pod: k8s endpoint in its namespace with kns profile, IPv4 and IPv6', async () => {
    const t = await makeService();
    const result = (await ok(
      t.service,
      env('ADD', 'sandbox1', { CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0;K8S_POD_INFRA_CONTAINER_ID=sandbox1' }),
      netconf({ cniVersion: '0.4.0', ipam: { type: 'calico-ipam', assign_ipv4: 'true', assign_ipv6: 'true' } }),
    )) as unknown as { ips: { version: string; address: string }[] };
    assert.deepEqual(result.ips.map((i) => i.version), ['4', '6']);
    assert.match(result.ips[1]!.address, /^fd00:10:244::[0-9a-f]+\/128$/);
    const wep = await t.store.get(workloadEndpointKind, 'node1-k8s-web--0-eth0', 'shop');
    assert.equal((wep?.spec as { pod: string }).pod, 'web-0');
    assert.deepEqual((wep?.spec as { profiles: string[] }).profiles, ['kns.shop']);
    assert.equal(await t.store.get(profileKind, 'mnet'), undefined);
  });

  it('does not answer before the dataplane has programmed the endpoint', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const t = await makeService({ programmed: () => gate });
    let answered = false;
    const pending = ok(t.service, env('ADD'), netconf()).then(() => (answered = true));
    await new Promise((r) => setTimeout(r, 50));
    assert.equal(answered, false);
    assert.equal(t.waits.length, 1);
    release();
    await pending;
    assert.equal(answered, true);
  });

  it('programs the endpoint ahead of its write, except for the first container of a new network; a failed ADD withdraws it', async () => {
    const t = await makeService();
    await ok(t.service, env('ADD', 'ctr1'), netconf());
    assert.deepEqual(t.ahead.fed, [], 'the network profile was just created: the datastore path programs it');
    await ok(t.service, env('ADD', 'ctr2'), netconf());
    await ok(t.service, env('ADD', 'pod1', { CNI_ARGS: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-1' }), netconf());
    assert.deepEqual(t.ahead.fed, ['node1-cni-ctr2-eth0', 'node1-k8s-web--1-eth0']);
    assert.deepEqual(t.ahead.withdrawn, []);
    // Each endpoint's routes are reported before it is fed: the route driver must not race the CNI to add them.
    assert.deepEqual(t.told, ['routes', 'routes', 'fed node1-cni-ctr2-eth0', 'routes', 'fed node1-k8s-web--1-eth0']);
    const failing = await makeService({ programmed: async () => Promise.reject(new Error('timed out')) });
    await fails(failing.service, env('ADD', 'pod2', { CNI_ARGS: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-2' }), netconf());
    assert.deepEqual(failing.ahead.withdrawn, ['node1-k8s-web--2-eth0']);
    // The failed ADD's route report is withdrawn too (the route driver would otherwise keep it).
    const veth = failing.told.find((m) => m.startsWith('gone '));
    assert.deepEqual(failing.told, ['routes', 'fed node1-k8s-web--2-eth0', veth]);
    assert.match(veth!, /^gone cali[0-9a-f]{11}$/);
  });

  it('a dataplane that does not program in time: code 11 and nothing left behind', async () => {
    const t = await makeService({ programmed: async () => Promise.reject(new Error('timed out after 30000 ms')) });
    const err = await fails(t.service, env('ADD'), netconf());
    assert.equal(err.code, 11);
    assert.match(err.msg, /did not program/);
    assert.equal(t.plumbing.veths.size, 0);
    assert.equal((await t.store.list(workloadEndpointKind)).items.length, 0);
    assert.deepEqual(await t.ipam.ipsByHandle('mnet.ctr1'), []);
    assert.equal(await handleCount(t.ds), 0);
  });

  it('a plumbing failure: code 5, addresses released, no endpoint', async () => {
    const t = await makeService();
    t.plumbing.failSetUp = Object.assign(new Error('RTNETLINK answers: Operation not permitted'), { name: 'PlumbingError' });
    const err = await fails(t.service, env('ADD'), netconf());
    assert.equal(err.code, 5);
    assert.equal((await t.store.list(workloadEndpointKind)).items.length, 0);
    assert.equal(await handleCount(t.ds), 0);
  });

  it('an exhausted pool: code 101, no veth or endpoint left', async () => {
    const t = await makeService({
      pools: [{ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'tiny' }, spec: { cidr: '10.9.0.0/31', blockSize: 31 } }],
    });
    await ok(t.service, env('ADD', 'a'), netconf());
    await ok(t.service, env('ADD', 'b'), netconf());
    const err = await fails(t.service, env('ADD', 'c'), netconf());
    assert.equal(err.code, 101);
    assert.equal(t.plumbing.veths.size, 2);
    assert.equal((await t.store.list(workloadEndpointKind)).items.length, 2);
  });

  it('the endpoint is written in its address’s transaction (block, handle and endpoint at one revision)', async () => {
    const t = await makeService();
    await ok(t.service, env('ADD', 'ctr1'), netconf()); // the network's profile first
    await ok(t.service, env('ADD', 'ctr2'), netconf());
    const wep = (await t.store.get(workloadEndpointKind, 'node1-cni-ctr2-eth0', 'default'))!;
    const handle = (await t.ds.get(handleKey('mnet.ctr2')))!;
    assert.equal(Number(wep.metadata.resourceVersion), handle.modRevision);
    assert.equal(t.waits.at(-1)?.revision, handle.modRevision, 'the ADD waits for that revision to be programmed');
    assert.deepEqual((wep.spec as { ipNetworks: string[] }).ipNetworks, (await t.ipam.ipsByHandle('mnet.ctr2')).map((ip) => `${ip}/32`));
    assert.ok(wep.metadata.uid && wep.metadata.creationTimestamp);
  });

  it('the container\'s addresses go in while IPAM\'s transaction is on its way, not after its answer', async () => {
    let plumbing: FakePlumbing | undefined;
    const seen: boolean[] = [];
    class Watching extends FaultyDatastore {
      override async txn(ops: TxnOp[]): Promise<number> {
        if (ops.some((op) => op.key.includes('workloadendpoints'))) {
          // Bounded: before the change the addresses waited for this transaction's answer.
          for (let i = 0; i < 50 && !plumbing?.calls.some((c) => c.startsWith('addAddresses')); i++) await new Promise((r) => setTimeout(r, 10));
          seen.push(plumbing!.calls.some((c) => c.startsWith('addAddresses')));
        }
        return super.txn(ops);
      }
    }
    const t = await makeService({ wrap: (ds) => new Watching(ds, () => undefined) });
    plumbing = t.plumbing;
    const result = (await ok(t.service, env('ADD', 'ctr1'), netconf())) as unknown as Result;
    assert.deepEqual(seen, [true]);
    assert.deepEqual([...t.plumbing.veths.values()].map((v) => v.ipv4), [[result.ips[0]!.address.replace('/32', '')]]);
    assert.deepEqual(t.plumbing.calls.filter((c) => c.startsWith('addAddresses')).length, 1);
  });

  it('addresses put in early fail (another workload\'s route to one of them): the veth is made again with the committed ones, routes replacing', async () => {
    const t = await makeService();
    t.plumbing.routeTaken = true;
    const result = (await ok(t.service, env('ADD', 'ctr1'), netconf())) as unknown as Result;
    const [veth] = [...t.plumbing.veths.values()];
    assert.deepEqual(veth!.ipv4, [result.ips[0]!.address.replace('/32', '')]);
    assert.deepEqual(t.plumbing.calls, [
      `createLink ${veth!.hostVeth}`,
      `addAddresses ${veth!.hostVeth}`,
      `deleteHostVeth ${veth!.hostVeth}`,
      `createLink ${veth!.hostVeth}`,
      `addAddresses ${veth!.hostVeth}`,
    ]);
  });

  it('a transaction redone with other addresses (a conflicting write meanwhile): the veth is made again with the committed ones', async () => {
    let stolen: string | undefined;
    let other: Ipam | undefined;
    class Conflicting extends FaultyDatastore {
      override async txn(ops: TxnOp[]): Promise<number> {
        const wep = ops.find((op) => op.key.includes('workloadendpoints') && op.key.includes('ctr2'));
        if (wep && stolen === undefined && 'value' in wep) {
          // Another writer takes the address this transaction is about to commit.
          stolen = (JSON.parse(wep.value) as { spec: { ipNetworks: string[] } }).spec.ipNetworks[0]!.replace('/32', '');
          await other!.assignIp({ ip: stolen, handle: 'someone-else', node: 'node1', use: 'Workload' });
        }
        return super.txn(ops);
      }
    }
    const t = await makeService({
      wrap: (ds) => {
        other = new Ipam(ds, { sleep: async () => {} });
        return new Conflicting(ds, () => undefined);
      },
    });
    await ok(t.service, env('ADD', 'ctr1'), netconf()); // the network's profile first
    const result = (await ok(t.service, env('ADD', 'ctr2'), netconf())) as unknown as Result;
    const ip = result.ips[0]!.address.replace('/32', '');
    assert.ok(stolen !== undefined && ip !== stolen, `${ip} is not the address taken meanwhile (${stolen})`);
    const veth = [...t.plumbing.veths.values()].find((v) => v.hostVeth !== [...t.plumbing.veths.keys()][0])!;
    assert.deepEqual(veth.ipv4, [ip], 'the container has the committed address only');
    const calls = t.plumbing.calls.slice(t.plumbing.calls.indexOf(`createLink ${veth.hostVeth}`));
    assert.deepEqual(calls, [`createLink ${veth.hostVeth}`, `addAddresses ${veth.hostVeth}`, `deleteHostVeth ${veth.hostVeth}`, `createLink ${veth.hostVeth}`, `addAddresses ${veth.hostVeth}`]);
    const wep = (await t.store.get(workloadEndpointKind, 'node1-cni-ctr2-eth0', 'default'))!;
    assert.deepEqual((wep.spec as { ipNetworks: string[] }).ipNetworks, [`${ip}/32`]);
  });

  for (const fault of ['lost-request', 'lost-answer', 'rejected'] as Fault[]) {
    it(`the transaction of address and endpoint fails (${fault}): code 11, nothing left`, async () => {
      const t = await makeService({ wrap: (ds) => new FaultyDatastore(ds, (_n, ops) => (ops.some((op) => op.key.includes('workloadendpoints') && op.key.includes('ctr2')) ? fault : undefined)) });
      await ok(t.service, env('ADD', 'ctr1'), netconf({ ipam: { type: 'margay-ipam', assign_ipv6: 'true' } }));
      const err = await fails(t.service, env('ADD', 'ctr2'), netconf({ ipam: { type: 'margay-ipam', assign_ipv6: 'true' } }));
      assert.equal(err.code, fault === 'rejected' ? 999 : 11, err.msg);
      assert.deepEqual([...t.plumbing.veths.keys()].length, 1);
      assert.deepEqual((await t.store.list(workloadEndpointKind)).items.map((w) => w.metadata.name), ['node1-cni-ctr1-eth0']);
      assert.deepEqual(await t.ipam.ipsByHandle('mnet.ctr2'), []);
      assert.equal(await handleCount(t.ds), 1);
    });
  }

  it('the datastore unreachable: code 11, nothing left', async () => {
    const t = await makeService();
    t.ds.setReachable(false);
    const err = await fails(t.service, env('ADD'), netconf());
    assert.equal(err.code, 11);
    assert.equal(t.plumbing.veths.size, 0);
    t.ds.setReachable(true);
    assert.equal(await handleCount(t.ds), 0);
  });

  it('a missing network namespace is an unknown container (3)', async () => {
    const t = await makeService();
    assert.equal((await fails(t.service, env('ADD', 'x', { CNI_NETNS: '/proc/999999999/ns/net' }), netconf())).code, 3);
  });

  it('a configuration for another node is 7', async () => {
    const t = await makeService();
    assert.equal((await fails(t.service, env('ADD'), netconf({ nodename: 'node2' }))).code, 7);
  });

  it('error objects carry the configuration version', async () => {
    const t = await makeService();
    const err = await fails(t.service, env('ADD', 'x', { CNI_NETNS: '/nope' }), netconf({ cniVersion: '0.3.1' }));
    assert.equal(err.cniVersion, '0.3.1');
    const bad = await fails(t.service, env('ADD'), '{"cniVersion": "0.4.0", "name": 5}');
    assert.deepEqual([bad.cniVersion, bad.code], ['0.4.0', 7]);
  });

  it('a repeated ADD keeps the attachment’s addresses (retry after an agent restart)', async () => {
    const t = await makeService();
    const a = (await ok(t.service, env('ADD'), netconf())) as unknown as Result;
    const b = (await ok(t.service, env('ADD'), netconf())) as unknown as Result;
    assert.deepEqual(a.ips, b.ips);
    assert.equal((await t.store.list(workloadEndpointKind)).items.length, 1);
  });

  it('a requested address (runtimeConfig.ips, CNI_ARGS IP=)', async () => {
    const t = await makeService();
    const a = (await ok(t.service, env('ADD', 'a'), netconf({ runtimeConfig: { ips: ['10.244.0.77/24'] } }))) as unknown as Result;
    assert.equal(a.ips[0]!.address, '10.244.0.77/32');
    const b = (await ok(t.service, env('ADD', 'b', { CNI_ARGS: 'IP=10.244.0.78' }), netconf())) as unknown as Result;
    assert.equal(b.ips[0]!.address, '10.244.0.78/32');
    const c = await fails(t.service, env('ADD', 'c', { CNI_ARGS: 'IP=10.244.0.78' }), netconf());
    assert.equal(c.code, 101);
  });

  it('50 concurrent ADDs get 50 different addresses', async () => {
    const t = await makeService();
    const results = (await Promise.all(Array.from({ length: 50 }, (_, i) => ok(t.service, env('ADD', `c${i}`, { CNI_NETNS: `/run/netns/c${i}` }), netconf())))) as unknown as Result[];
    const ips = new Set(results.map((r) => r.ips[0]!.address));
    assert.equal(ips.size, 50);
    assert.equal(t.plumbing.veths.size, 50);
    // Each endpoint names exactly what its handle holds (most written in shared transactions).
    const { items } = await t.store.list(workloadEndpointKind);
    assert.equal(items.length, 50);
    for (const wep of items) {
      const cid = (wep.spec as { containerID: string }).containerID;
      assert.deepEqual((wep.spec as { ipNetworks: string[] }).ipNetworks, (await t.ipam.ipsByHandle(`mnet.${cid}`)).map((ip) => `${ip}/32`), cid);
    }
  });
});

describe('cni service - DEL, CHECK, GC', () => {
  it('DEL removes veth, endpoint and addresses, and is idempotent', async () => {
    const t = await makeService();
    await ok(t.service, env('ADD'), netconf());
    const hostVeth = [...t.plumbing.veths.values()][0]!.hostVeth;
    await ok(t.service, env('DEL'), netconf());
    assert.deepEqual(t.told.slice(-1), [`gone ${hostVeth}`], "the route driver forgets the attachment's route reports");
    assert.equal(t.plumbing.veths.size, 0);
    assert.equal((await t.store.list(workloadEndpointKind)).items.length, 0);
    assert.equal(await handleCount(t.ds), 0);
    assert.equal(await ok(t.service, env('DEL'), netconf()), undefined);
    assert.equal(await ok(t.service, env('DEL', 'never-added', { CNI_NETNS: '' }), netconf()), undefined);
  });

  it("DEL leaves another container's endpoint of the same pod alone", async () => {
    const t = await makeService();
    const args = { CNI_ARGS: 'K8S_POD_NAMESPACE=shop;K8S_POD_NAME=web-0' };
    await ok(t.service, env('ADD', 'new-sandbox', args), netconf());
    await ok(t.service, env('DEL', 'old-sandbox', { ...args, CNI_NETNS: '' }), netconf());
    const wep = await t.store.get(workloadEndpointKind, 'node1-k8s-web--0-eth0', 'shop');
    assert.equal((wep?.spec as { containerID: string }).containerID, 'new-sandbox');
    assert.equal(t.plumbing.veths.size, 1);
  });

  it('CHECK passes after ADD and reports what changed', async () => {
    const t = await makeService();
    const conf = { cniVersion: '1.0.0', name: 'mnet', type: 'margay' };
    const prevResult = await ok(t.service, env('ADD'), JSON.stringify(conf));
    assert.equal(await ok(t.service, env('CHECK'), JSON.stringify({ ...conf, prevResult })), undefined);
    t.plumbing.differences = ['eth0 lacks address 10.244.0.1/32'];
    const err = await fails(t.service, env('CHECK'), JSON.stringify({ ...conf, prevResult }));
    assert.equal(err.code, 100);
    assert.match(err.msg, /lacks address/);
  });

  it('CHECK: a different address in prevResult, a missing endpoint, an old version, no prevResult', async () => {
    const t = await makeService();
    const conf = { cniVersion: '1.0.0', name: 'mnet', type: 'margay' };
    await ok(t.service, env('ADD'), JSON.stringify(conf));
    const wrong = { cniVersion: '1.0.0', ips: [{ address: '10.244.0.250/32', interface: 1 }] };
    assert.equal((await fails(t.service, env('CHECK'), JSON.stringify({ ...conf, prevResult: wrong }))).code, 100);
    assert.equal((await fails(t.service, env('CHECK', 'other'), JSON.stringify({ ...conf, prevResult: wrong }))).code, 3);
    assert.equal((await fails(t.service, env('CHECK'), JSON.stringify({ ...conf, cniVersion: '0.3.1', prevResult: wrong }))).code, 1);
    assert.equal((await fails(t.service, env('CHECK'), JSON.stringify(conf))).code, 7);
  });

  it('CHECK fails when the dataplane has not programmed the endpoint', async () => {
    let programmed = true;
    const t = await makeService({ programmed: async () => (programmed ? undefined : Promise.reject(new Error('not programmed'))) });
    const conf = { cniVersion: '1.0.0', name: 'mnet', type: 'margay' };
    const prevResult = await ok(t.service, env('ADD'), JSON.stringify(conf));
    programmed = false;
    const err = await fails(t.service, env('CHECK'), JSON.stringify({ ...conf, prevResult }));
    assert.equal(err.code, 100);
    assert.match(err.msg, /not programmed/);
  });

  it('GC releases the attachments the runtime no longer has, and only this network’s', async () => {
    const t = await makeService();
    for (const c of ['keep', 'orphan1', 'orphan2']) await ok(t.service, env('ADD', c), netconf());
    await ok(t.service, env('ADD', 'othernet'), netconf({ name: 'other' }));
    const gcConf = netconf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'keep', ifname: 'eth0' }] });
    await ok(t.service, { CNI_COMMAND: 'GC', CNI_PATH: '/usr/lib/cni' }, gcConf);
    const left = (await t.store.list(workloadEndpointKind)).items.map((w) => w.metadata.name).sort();
    assert.deepEqual(left, ['node1-cni-keep-eth0', 'node1-cni-othernet-eth0']);
    assert.equal((await t.ipam.ipsByHandle('mnet.orphan1')).length, 0);
    assert.equal((await t.ipam.ipsByHandle('mnet.keep')).length, 1);
    assert.equal((await t.ipam.ipsByHandle('other.othernet')).length, 1);
    assert.equal(t.plumbing.veths.size, 2);
    assert.equal((await fails(t.service, { CNI_COMMAND: 'GC' }, netconf({ cniVersion: '1.0.0' }))).code, 1);
  });
});

describe('cni service - STATUS and VERSION', () => {
  it('STATUS is ready when the agent is and an address can be assigned', async () => {
    const t = await makeService();
    assert.equal(await ok(t.service, { CNI_COMMAND: 'STATUS' }, netconf({ cniVersion: '1.1.0' })), undefined);
    t.setReady(false);
    const err = await fails(t.service, { CNI_COMMAND: 'STATUS' }, netconf({ cniVersion: '1.1.0' }));
    assert.equal(err.code, 50);
    assert.match(err.msg, /not in sync/);
  });

  it('STATUS is not ready when no address can be assigned', async () => {
    const t = await makeService({
      pools: [{ apiVersion: 'projectcalico.org/v3', kind: 'IPPool', metadata: { name: 'tiny' }, spec: { cidr: '10.9.0.0/31', blockSize: 31 } }],
    });
    await ok(t.service, { CNI_COMMAND: 'STATUS' }, netconf());
    await ok(t.service, env('ADD', 'a'), netconf());
    await ok(t.service, env('ADD', 'b'), netconf());
    assert.equal((await fails(t.service, { CNI_COMMAND: 'STATUS' }, netconf())).code, 50);
    assert.equal((await fails(t.service, { CNI_COMMAND: 'STATUS' }, netconf({ ipam: { assign_ipv6: true, assign_ipv4: false } }))).code, 50);
  });

  it('VERSION lists the supported versions', async () => {
    const t = await makeService();
    assert.deepEqual(await ok(t.service, { CNI_COMMAND: 'VERSION' }, '{"cniVersion":"1.0.0"}'), { cniVersion: '1.1.0', supportedVersions: [...SUPPORTED_VERSIONS] });
  });
});

describe('cni service - margay-ipam', () => {
  it('ADD returns addresses with the block prefix; CHECK; DEL releases', async () => {
    const t = await makeService();
    const conf = { cniVersion: '1.0.0', name: 'brnet', type: 'bridge', ipam: { type: 'margay-ipam', assign_ipv6: 'true', routes: [{ dst: '0.0.0.0/0' }] } };
    const result = (await ok(t.service, env('ADD', 'b1'), JSON.stringify(conf), 'ipam')) as unknown as Result;
    assert.match(result.ips[0]!.address, /^10\.244\.0\.\d+\/28$/);
    assert.match(result.ips[1]!.address, /^fd00:10:244::[0-9a-f]+\/124$/);
    assert.deepEqual(result.routes, [{ dst: '0.0.0.0/0' }]);
    assert.equal(result.interfaces, undefined);
    assert.equal(t.plumbing.calls.length, 0);
    assert.equal((await t.store.list(workloadEndpointKind)).items.length, 0);
    await ok(t.service, env('CHECK', 'b1'), JSON.stringify({ ...conf, prevResult: result }), 'ipam');
    await ok(t.service, env('DEL', 'b1'), JSON.stringify(conf), 'ipam');
    assert.equal((await fails(t.service, env('CHECK', 'b1'), JSON.stringify({ ...conf, prevResult: result }), 'ipam')).code, 3);
    assert.equal(await handleCount(t.ds), 0);
  });
});

describe('cni service - interfaces someone else created (VM taps)', () => {
  const vm = { command: 'ADD', interfaceName: 'tap1a2b3c4d-5e', workload: 'instance-0001', endpoint: 'port-1', namespace: 'tenant-a', mac: 'FA:16:3E:00:00:01', labels: { app: 'db' } };

  it('ADD assigns, configures the tap, writes an openstack endpoint and waits; DEL undoes it', async () => {
    const t = await makeService();
    const add = await t.service.handleExisting({ ...vm, assignIpv6: true });
    assert.equal(add.ok, true, JSON.stringify(add.body));
    const body = add.body as { ips: string[]; gateways: { ipv4: string; ipv6: string }; endpoint: { name: string } };
    assert.match(body.ips[0]!, /^10\.244\.0\.\d+\/32$/);
    assert.deepEqual(body.gateways, { ipv4: '169.254.1.1', ipv6: 'fe80::fc16:3eff:fe00:1' });
    assert.equal(body.endpoint.name, 'node1-openstack-instance--0001-port--1');
    const wep = await t.store.get(workloadEndpointKind, body.endpoint.name, 'tenant-a');
    assert.deepEqual(
      { orch: (wep?.spec as { orchestrator: string }).orchestrator, iface: (wep?.spec as { interfaceName: string }).interfaceName, mac: (wep?.spec as { mac: string }).mac, app: wep?.metadata.labels?.app },
      { orch: 'openstack', iface: 'tap1a2b3c4d-5e', mac: 'fa:16:3e:00:00:01', app: 'db' },
    );
    assert.equal(t.waits.length, 1);
    assert.equal(t.plumbing.existing.size, 1);
    const del = await t.service.handleExisting({ ...vm, command: 'DEL' });
    assert.equal(del.ok, true);
    assert.equal(await t.store.get(workloadEndpointKind, body.endpoint.name, 'tenant-a'), undefined);
    assert.equal(t.plumbing.existing.size, 0);
    assert.equal(await handleCount(t.ds), 0);
    assert.equal((await t.service.handleExisting({ ...vm, command: 'DEL' })).ok, true);
  });

  it('a missing interface: code 5 and nothing left; a bad request: code 7', async () => {
    const t = await makeService();
    const add = await t.service.handleExisting({ ...vm, interfaceName: 'nosuchif' });
    assert.equal((add.body as { code: number }).code, 5);
    assert.equal(await handleCount(t.ds), 0);
    assert.equal((await t.store.list(workloadEndpointKind)).items.length, 0);
    assert.equal(((await t.service.handleExisting({ ...vm, orchestrator: 'k8s' })).body as { code: number }).code, 7);
    assert.equal(((await t.service.handleExisting({ ...vm, ips: ['nope'] })).body as { code: number }).code, 7);
  });
});
