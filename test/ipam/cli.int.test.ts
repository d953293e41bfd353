/**
 * `margay ipam show|check|release|configure` against a real etcd, configured through the
 * environment as an operator would, with their error cases.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { Datastore } from '../../src/datastore/datastore.ts';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { etcdctl, startEtcd, type EtcdHandle } from '../harness/etcd.ts';
import { margay } from '../cli/helpers.ts';
import { apply, node, pool, reservation, wep } from './helpers.ts';

let etcd: EtcdHandle;
let ds: Datastore;
let env: NodeJS.ProcessEnv;
const run = (...args: string[]) => margay(args, { env });

before(async () => {
  etcd = await startEtcd();
  ds = new EtcdDatastore({ endpoints: etcd.endpoints });
  env = { DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: etcd.endpoints.join(',') };
  await apply(ds, pool('pods', '10.40.0.0/16'), pool('pods6', 'fd00:40::/48'), node('n1'), node('n2'), reservation('infra', ['10.40.0.0/30']));
});
after(async () => {
  await ds?.close();
  await etcd?.destroy();
});

describe('margay ipam (etcd)', () => {
  let used: string;
  let leaked: string;

  test('show: the utilisation table, with blocks, and who holds an address', async () => {
    const ipam = new Ipam(ds);
    const a = await ipam.autoAssign({ handle: 'k8s-pod-network.aaa', node: 'n1', num4: 1, num6: 1, attrs: { namespace: 'web', pod: 'front-0' } });
    const b = await ipam.autoAssign({ handle: 'k8s-pod-network.bbb', node: 'n2', num4: 1, attrs: { namespace: 'web', pod: 'front-1' } });
    used = a.ipv4[0]!.address;
    leaked = b.ipv4[0]!.address;
    await apply(ds, wep({ node: 'n1', namespace: 'web', pod: 'front-0', containerID: 'aaa', ips: [used, a.ipv6[0]!.address] }));

    const show = await run('ipam', 'show');
    assert.equal(show.code, 0, show.stderr);
    assert.match(show.stdout, /\| GROUPING \|/);
    assert.match(show.stdout, /\| IP Pool  \| 10\.40\.0\.0\/16 +\| +65536 \| 2 \(0%\) +\| 65530 \(100%\) +\|/, show.stdout);
    assert.match(show.stdout, /\| IP Pool  \| fd00:40::\/48 +\| 1\.2089e\+24 \| 1 \(0%\) +\|/);
    assert.doesNotMatch(show.stdout, /Block/);

    const blocks = await run('ipam', 'show', '--show-blocks');
    assert.equal(blocks.code, 0);
    assert.equal((blocks.stdout.match(/\| Block /g) ?? []).length, 3, blocks.stdout);
    assert.match(blocks.stdout, new RegExp(`\\| Block +\\| ${a.ipv4[0]!.block.replaceAll('.', '\\.')} +\\| +64 \\| 1 \\(2%\\)`));

    const who = await run('ipam', 'show', '--ip', used);
    assert.equal(who.code, 0);
    assert.match(who.stdout, new RegExp(`^IP ${used} is in use\\nHandle: k8s-pod-network\\.aaa\\nBlock: ${a.ipv4[0]!.block} \\(affinity host:n1\\)\\nAttributes:\\n  namespace: web\\n  node: n1\\n  pod: front-0\\n$`));
    const free = await run('ipam', 'show', '--ip', '10.40.200.1');
    assert.equal(free.stdout, 'IP 10.40.200.1 is not assigned (pool pods)\n');
    assert.equal((await run('ipam', 'show', '--ip', '10.99.0.1')).stdout, 'IP 10.99.0.1 is not assigned and is not in any IP pool\n');
    const bad = await run('ipam', 'show', '--ip', '10.40.0.300');
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--ip: "10\.40\.0\.300" is not an IP address/);
  });

  test('check: a leak makes it fail naming the address; releasing it makes it pass', async () => {
    const check = await run('ipam', 'check');
    assert.equal(check.code, 1);
    assert.match(check.stdout, new RegExp(`\\[leaked-address\\] ${leaked.replaceAll('.', '\\.')} \\(block .*handle k8s-pod-network\\.bbb, web/front-1, node n2\\): no workload endpoint uses it`));
    assert.match(check.stderr, /IPAM is inconsistent: 1 problem\(s\)/);

    const release = await run('ipam', 'release', '--ip', leaked);
    assert.equal(release.code, 0, release.stderr);
    assert.equal(release.stdout, `Successfully released IP address ${leaked}\n`);
    const clean = await run('ipam', 'check');
    assert.equal(clean.code, 0, clean.stdout);
    assert.match(clean.stdout, /Found 2 allocation\(s\): 2 used by workload endpoints/);
    assert.match(clean.stdout, /IPAM is consistent\.\n$/);
  });

  test('release: refuses an address a workload uses (unless --force), fails on one not assigned', async () => {
    const inUse = await run('ipam', 'release', '--ip', used);
    assert.equal(inUse.code, 1);
    assert.match(inUse.stderr, /is used by workload endpoint web\/n1-k8s-front--0-eth0; delete it first, or release anyway with --force/);
    assert.ok(await new Ipam(ds).getAssignmentAttributes(used), 'still assigned');
    const notAssigned = await run('ipam', 'release', '--ip', '10.40.99.99');
    assert.equal(notAssigned.code, 1);
    assert.match(notAssigned.stderr, /IP address 10\.40\.99\.99 is not assigned/);
    assert.equal((await run('ipam', 'release')).code, 1);
    const forced = await run('ipam', 'release', '--ip', used, '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(await new Ipam(ds).getAssignmentAttributes(used), undefined);
    const check = await run('ipam', 'check');
    assert.equal(check.code, 1, 'the endpoint now uses an address IPAM does not hold');
    assert.match(check.stdout, /\[missing-allocation\]/);
  });

  test("configure: writes Calico's record (and the v3 resource when there is one); bad values change nothing", async () => {
    const res = await run('ipam', 'configure', '--strictaffinity=true', '--max-blocks-per-host', '7');
    assert.equal(res.code, 0, res.stderr);
    assert.equal(res.stdout, 'Successfully set StrictAffinity to: true\nSuccessfully set MaxBlocksPerHost to: 7\n');
    assert.equal(etcdctl(etcd.endpoints, ['get', '--print-value-only', '/calico/ipam/v2/config']).trim(), '{"strict_affinity":true,"auto_allocate_blocks":true,"maxBlocksPerHost":7}');

    await apply(ds, { apiVersion: 'projectcalico.org/v3', kind: 'IPAMConfiguration', metadata: { name: 'default' }, spec: { strictAffinity: true, ipCooldownSeconds: 5 } });
    assert.equal((await run('ipam', 'configure', '--strictaffinity=false')).code, 0);
    const got = await run('get', 'ipamconfiguration', 'default', '-o', 'json');
    const spec = (JSON.parse(got.stdout) as { spec: Record<string, unknown> }).spec;
    assert.equal(spec.strictAffinity, false);
    assert.equal(spec.ipCooldownSeconds, 5, 'other fields untouched');
    assert.equal((await new Ipam(ds).getConfig()).strictAffinity, false);

    const before = await ds.currentRevision();
    for (const args of [['--strictaffinity=maybe'], ['--max-blocks-per-host', '-1'], ['--max-blocks-per-host', 'ten'], []]) {
      const r = await run('ipam', 'configure', ...args);
      assert.equal(r.code, 1, args.join(' '));
      assert.equal(r.stderr.trim().split('\n').length, 1, r.stderr);
    }
    assert.equal(await ds.currentRevision(), before);
  });

  test('usage errors: no subcommand, unknown subcommand', async () => {
    const none = await run('ipam');
    assert.equal(none.code, 1);
    assert.match(none.stderr, /a subcommand is required: show, check, release or configure/);
    const unknown = await run('ipam', 'frobnicate');
    assert.equal(unknown.code, 1);
  });
});
