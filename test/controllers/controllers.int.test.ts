/**
 * `margay controllers` as real processes against a real etcd: one leader at a time through the
 * lease, the leader garbage-collects leaked addresses and a deleted node's addresses, SIGTERM
 * exits 0 and hands over at once, SIGKILL hands over when the lease runs out.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, test } from 'node:test';
import { LEADER_KEY } from '../../src/datastore/keys.ts';
import type { Datastore } from '../../src/datastore/datastore.ts';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { Ipam } from '../../src/ipam/ipam.ts';
import { trackChildren } from '../harness/process.ts';
import { startEtcd, type EtcdHandle } from '../harness/etcd.ts';
import { eventually } from '../harness/wait.ts';
import { apply, node, pool, wep } from '../ipam/helpers.ts';

const root = join(dirname(fileURLToPath(import.meta.url)), '..', '..');

interface Proc {
  child: ChildProcess;
  id: string;
  log: string;
  exited: Promise<number | string>;
}

const { list: procs, killAll: undo } = trackChildren<Proc>();

function startController(id: string, endpoints: string[]): Proc {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(root, 'src/cli/run.ts'), 'controllers', '--identity', id, '--lease-ttl', '2', '--leak-grace-period', '1s', '--interval', '300ms'],
    { cwd: root, env: { ...process.env, DATASTORE_TYPE: 'etcdv3', ETCD_ENDPOINTS: endpoints.join(',') }, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  const p: Proc = { child, id, log: '', exited: new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal ?? -1))) };
  child.stderr!.setEncoding('utf8').on('data', (s: string) => (p.log += s));
  procs.push(p);
  return p;
}

let etcd: EtcdHandle;
let ds: Datastore;
before(async () => {
  etcd = await startEtcd();
  ds = new EtcdDatastore({ endpoints: etcd.endpoints });
});
after(async () => {
  undo();
  await ds?.close();
  await etcd?.destroy();
});

async function leader(): Promise<string | undefined> {
  const kv = await ds.get(LEADER_KEY);
  return kv ? (JSON.parse(kv.value) as { identity: string }).identity : undefined;
}

describe('margay controllers (etcd, real processes)', () => {
  test('one leader, GC of leaks and of a deleted node, clean SIGTERM hand-over, SIGKILL hand-over by lease', async () => {
    await apply(ds, pool('pods', '10.50.0.0/16'), node('n1'));
    const ipam = new Ipam(ds);
    const kept = await ipam.autoAssign({ handle: 'k8s-pod-network.keep', node: 'n1', num4: 1, attrs: { namespace: 'ns', pod: 'keep' } });
    await apply(ds, wep({ node: 'n1', namespace: 'ns', pod: 'keep', containerID: 'keep', ips: [kept.ipv4[0]!.address] }));
    await ipam.autoAssign({ handle: 'k8s-pod-network.leak', node: 'n1', num4: 1, attrs: { namespace: 'ns', pod: 'leak' } });
    await ipam.autoAssign({ handle: 'k8s-pod-network.orphan', node: 'gone', num4: 1, attrs: { namespace: 'ns', pod: 'orphan' } });

    const a = startController('ctl-a', etcd.endpoints);
    const b = startController('ctl-b', etcd.endpoints);
    const first = await eventually(async () => (await leader()) ?? false, { timeoutMs: 30_000, what: 'a leader' });
    assert.ok(first === 'ctl-a' || first === 'ctl-b');

    await eventually(async () => (await ipam.ipsByHandle('k8s-pod-network.leak')).length === 0 && (await ipam.ipsByHandle('k8s-pod-network.orphan')).length === 0, {
      timeoutMs: 30_000,
      what: 'leaks released',
    });
    assert.deepEqual(await ipam.ipsByHandle('k8s-pod-network.keep'), [kept.ipv4[0]!.address], 'the address in use stays');
    assert.equal((await ds.list('/calico/ipam/v2/host/gone/')).items.length, 0, "the deleted node's affinity is gone");

    const [lead, follow] = first === 'ctl-a' ? [a, b] : [b, a];
    assert.match(lead.log, /"msg":"became the leader; running IPAM garbage collection"/);
    assert.doesNotMatch(follow.log, /became the leader/);
    // The releases are in etcd already; their log lines may still be in the pipe.
    const released = (handle: string, reason: string) => new RegExp(`"handle":"k8s-pod-network.${handle}","reason":"${reason}".*"msg":"released leaked address"`);
    await eventually(() => released('orphan', 'node-missing').test(lead.log) && released('leak', 'leaked').test(lead.log), { timeoutMs: 5_000, what: `both releases logged:\n${lead.log}` });

    lead.child.kill('SIGTERM');
    assert.equal(await lead.exited, 0, lead.log);
    await eventually(async () => (await leader()) === follow.id, { timeoutMs: 10_000, what: 'hand-over after SIGTERM' });

    follow.child.kill('SIGKILL');
    await follow.exited;
    await eventually(async () => (await leader()) === undefined, { timeoutMs: 15_000, what: 'the lease of a killed leader expires' });
  });
});
