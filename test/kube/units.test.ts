/**
 * The pure parts of src/kube: API access from a kubeconfig or a CNI configuration, the
 * KubeControllersConfiguration settings, the work queue, node labels, endpoint labels, the pod
 * oracle's facts and the IPAM ownership rule they feed, and the owned-resource writer (in-memory).
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { profileKind } from '../../src/api/kinds/profile.ts';
import { validateResource } from '../../src/api/validate.ts';
import { MemoryDatastore, ResourceStore } from '../../src/datastore/mod.ts';
import { hasCode } from '../../src/errors/mod.ts';
import { indexWorkloads, judgeAllocation, type AllocationView } from '../../src/ipam/ownership.ts';
import { accessFromNetConf, endpointFor, EVENT_COMPONENT, eventFor, KeyedQueue, loadKubeconfig, podFacts, reconcileAll, settingsFrom, withKubeLabels, KUBE_LABELS_ANNOTATION } from '../../src/kube/mod.ts';

const dir = mkdtempSync(join(tmpdir(), 'margay-kube-unit-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function kubeconfig(name: string, user: string, cluster = 'server: https://10.0.0.1:6443\n    certificate-authority: ca.pem'): string {
  const path = join(dir, name);
  writeFileSync(path, `apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts:\n- name: c\n  context: {cluster: k, user: u}\nclusters:\n- name: k\n  cluster:\n    ${cluster}\nusers:\n- name: u\n  user:\n    ${user}\n`);
  return path;
}

describe('API access', () => {
  writeFileSync(join(dir, 'ca.pem'), 'CA-PEM');
  writeFileSync(join(dir, 'token'), 'file-token\n');
  it('reads token, token file, client certificate data and a CA relative to the file', () => {
    const a = loadKubeconfig(kubeconfig('a', 'token: abc'));
    assert.deepEqual({ server: a.server, ca: a.ca, token: a.token }, { server: 'https://10.0.0.1:6443', ca: 'CA-PEM', token: 'abc' });
    assert.equal(loadKubeconfig(kubeconfig('b', 'tokenFile: token')).token, 'file-token');
    const c = loadKubeconfig(kubeconfig('c', `client-certificate-data: ${Buffer.from('CERT').toString('base64')}\n    client-key-data: ${Buffer.from('KEY').toString('base64')}`, 'server: https://h:1\n    insecure-skip-tls-verify: true'));
    assert.deepEqual({ cert: c.cert, key: c.key, insecure: c.insecureSkipTlsVerify }, { cert: 'CERT', key: 'KEY', insecure: true });
  });

  it('names the field it cannot use', () => {
    assert.throws(() => loadKubeconfig(kubeconfig('d', `client-certificate-data: ${Buffer.from('C').toString('base64')}`)), /users\[0\]\.user: client-certificate and client-key must be given together/);
    assert.throws(() => loadKubeconfig(kubeconfig('e', 'token: x', 'server: ftp://h')), /clusters\[0\]\.cluster\.server: .*only https/);
    assert.throws(() => loadKubeconfig(join(dir, 'missing')), (e: Error) => hasCode(e, 'MARGAY_ERR_CONFIG') && e.message.includes('cannot read'));
  });

  it("takes Calico's CNI keys: kubernetes.kubeconfig, or an API root and a token (the old /api/v1 suffix cut off)", () => {
    const path = kubeconfig('f', 'token: from-file');
    assert.equal(accessFromNetConf({ kubernetes: { kubeconfig: path } })?.token, 'from-file');
    const overridden = accessFromNetConf({ kubernetes: { kubeconfig: path }, policy: { k8s_auth_token: 'explicit' } });
    assert.equal(overridden?.token, 'explicit', 'explicit keys override the kubeconfig');
    const root = accessFromNetConf({ policy: { type: 'k8s', k8s_api_root: 'https://10.96.0.1:443/api/v1/', k8s_auth_token: 't' } });
    assert.deepEqual({ server: root?.server, token: root?.token }, { server: 'https://10.96.0.1', token: 't' });
    assert.equal(accessFromNetConf({ kubernetes: { k8s_api_root: 'https://api:6443' } })?.server, 'https://api:6443');
    assert.equal(accessFromNetConf({ name: 'net' }), undefined, 'no Kubernetes keys: no access');
  });
});

describe('KubeControllersConfiguration settings', () => {
  it("uses Calico's defaults without a resource, and runs only the sections present with one", () => {
    const d = settingsFrom(undefined);
    assert.deepEqual([d.namespace, d.policy, d.node?.leakGraceMs], [{ reconcilerPeriodMs: 300_000 }, { reconcilerPeriodMs: 300_000 }, 900_000]);
    const res = validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'KubeControllersConfiguration', metadata: { name: 'default' }, spec: { logSeverityScreen: 'Warning', controllers: { policy: { reconcilerPeriod: '30s' }, node: { syncLabels: 'Disabled', leakGracePeriod: '2m' } } } });
    const s = settingsFrom(res);
    assert.equal(s.namespace, undefined);
    assert.equal(s.workloadEndpoint, undefined);
    assert.deepEqual(s.policy, { reconcilerPeriodMs: 30_000 });
    assert.deepEqual(s.node, { reconcilerPeriodMs: 300_000, leakGraceMs: 120_000, syncLabels: false });
    assert.equal(s.logLevel, 'warn');
  });
});

describe('KeyedQueue', () => {
  it('coalesces a key added while waiting, runs it again when added in flight, retries failures', async () => {
    const runs: string[] = [];
    let failOnce = true;
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const q = new KeyedQueue(async (key) => {
      runs.push(key);
      if (key === 'a' && runs.filter((k) => k === 'a').length === 1) await gate;
      if (key === 'bad' && failOnce) {
        failOnce = false;
        throw new Error('boom');
      }
    }, { concurrency: 1, retryMs: 5 });
    q.add('a');
    q.add('b');
    q.add('b');
    q.add('a'); // in flight: once more afterwards
    q.add('bad');
    release();
    await q.idle();
    assert.deepEqual(runs, ['a', 'b', 'bad', 'a', 'bad']);
  });
});

describe('node labels and endpoint labels', () => {
  it('copies Kubernetes node labels, removing only the ones it copied before', () => {
    const node = validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'Node', metadata: { name: 'n', labels: { own: '1', zone: 'z' }, annotations: { [KUBE_LABELS_ANNOTATION]: '{"zone":"z"}' } }, spec: {} });
    const next = withKubeLabels(node, { rack: 'r' })!;
    assert.deepEqual(next.metadata.labels, { own: '1', rack: 'r' });
    assert.equal(withKubeLabels(next, { rack: 'r' }), undefined, 'nothing to change');
  });

  it("gives an endpoint its pod's labels and service account, touching nothing else", () => {
    const wep = validateResource({
      apiVersion: 'projectcalico.org/v3',
      kind: 'WorkloadEndpoint',
      metadata: { name: 'n-k8s-p-eth0', namespace: 'ns', labels: { old: '1' } },
      spec: { orchestrator: 'k8s', node: 'n', pod: 'p', endpoint: 'eth0', interfaceName: 'cali1', ipNetworks: ['10.0.0.1/32'], profiles: ['kns.ns'] },
    });
    const next = endpointFor(wep, { metadata: { name: 'p', namespace: 'ns', labels: { app: 'x' } }, spec: { serviceAccountName: 'sa' } })!;
    assert.deepEqual(next.metadata.labels, { app: 'x', 'projectcalico.org/namespace': 'ns', 'projectcalico.org/orchestrator': 'k8s', 'projectcalico.org/serviceaccount': 'sa' });
    assert.equal((next.spec as { serviceAccountName: string }).serviceAccountName, 'sa');
    assert.deepEqual((next.spec as { ipNetworks: string[] }).ipNetworks, ['10.0.0.1/32']);
    assert.equal(endpointFor(next, { metadata: { name: 'p', namespace: 'ns', labels: { app: 'x' } }, spec: { serviceAccountName: 'sa' } }), undefined);
  });
});

describe('the pod oracle and IPAM ownership rule 6', () => {
  const alloc = (attrs: Record<string, string>): AllocationView => ({
    block: '10.0.0.0/26', ordinal: 5, address: '10.0.0.5', handle: 'k8s-pod-network.c1', attrs, sequenceNumber: 0n, releasedAt: undefined, blockHost: 'n1',
  });
  const nodes = new Set(['n1', 'n2']);
  const none = indexWorkloads([]);
  const judge = (facts: ReturnType<typeof podFacts> | undefined) => judgeAllocation(alloc({ namespace: 'ns', pod: 'p', node: 'n1' }), none, nodes, () => facts);
  it('keeps the address of a pod that exists, releases what the API says is gone', () => {
    assert.equal(judge(podFacts({ metadata: { name: 'p' }, spec: { nodeName: 'n1' } })).kind, 'pod-exists', 'no address reported yet');
    assert.equal(judge(podFacts({ metadata: { name: 'p' }, spec: { nodeName: 'n1' }, status: { podIPs: [{ ip: '10.0.0.5' }] } })).kind, 'pod-exists');
    assert.equal(judge(podFacts(undefined)).kind, 'leak-candidate');
    assert.equal(judge(podFacts({ metadata: { name: 'p' }, spec: { nodeName: 'n2' } })).kind, 'leak-candidate', 'rescheduled');
    assert.equal(judge(podFacts({ metadata: { name: 'p' }, spec: { nodeName: 'n1' }, status: { podIP: '10.0.0.9' } })).kind, 'leak-candidate', 'uses another address');
    assert.equal(judge(podFacts({ metadata: { name: 'p' }, spec: { nodeName: 'n1' }, status: { phase: 'Failed', reason: 'Evicted' } })).kind, 'leak-candidate');
    assert.equal(judge(podFacts({ metadata: { name: 'p' }, spec: { nodeName: 'n1' }, status: { podIPs: [{ ip: 'fd00::5' }] } })).kind, 'pod-exists', 'only another family reported: cannot disown');
    assert.equal(judge(podFacts({ metadata: { name: 'p' }, spec: { nodeName: 'n1' }, status: { podIPs: [{ ip: 'fd00::5' }, { ip: '10.0.0.9' }] } })).kind, 'leak-candidate', 'dual stack, another IPv4');
    assert.equal(judge(undefined).kind, 'leak-candidate', 'an oracle that cannot tell changes nothing (rule 8)');
  });
});

describe('reconcileAll', () => {
  it('writes only the differences, and only among what it owns', async () => {
    const store = new ResourceStore(new MemoryDatastore());
    const profile = (name: string, labels: Record<string, string> = {}) => validateResource({ apiVersion: 'projectcalico.org/v3', kind: 'Profile', metadata: { name }, spec: { labelsToApply: labels } });
    await store.batch('apply', [profile('kns.keep', { a: '1' }), profile('kns.change', { a: '1' }), profile('kns.stale'), profile('user')]);
    const owned = { kind: profileKind, owns: (r: { metadata: { name: string } }) => r.metadata.name.startsWith('kns.') };
    const report = await reconcileAll(store, owned, [profile('kns.keep', { a: '1' }), profile('kns.change', { a: '2' }), profile('kns.new')]);
    assert.deepEqual([report.created, report.updated, report.deleted, report.unchanged], [['kns.new'], ['kns.change'], ['kns.stale'], 1]);
    assert.ok(await store.get(profileKind, 'user'), 'not owned: untouched');
    const again = await reconcileAll(store, owned, [profile('kns.keep', { a: '1' }), profile('kns.change', { a: '2' }), profile('kns.new')]);
    assert.deepEqual([again.created.length, again.updated.length, again.deleted.length, again.unchanged], [0, 0, 0, 3]);
  });
});

describe('Kubernetes events', () => {
  it('names the object, keeps the message within what the API server accepts, and says who reported it', () => {
    const np = { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', metadata: { name: 'p', namespace: 'ns', uid: 'u-1', resourceVersion: '42' } };
    const e = eventFor(np, 'Warning', 'RuleNotConverted', 'x'.repeat(2000), new Date('2026-01-02T03:04:05.678Z')) as {
      metadata: { name: string; namespace: string };
      involvedObject: Record<string, unknown>;
      message: string;
      source: { component: string };
      firstTimestamp: string;
    };
    assert.match(e.metadata.name, /^p\.[0-9a-f]{16}$/);
    assert.equal(e.metadata.namespace, 'ns');
    assert.deepEqual(e.involvedObject, { apiVersion: 'networking.k8s.io/v1', kind: 'NetworkPolicy', namespace: 'ns', name: 'p', uid: 'u-1', resourceVersion: '42' });
    assert.equal(e.message.length, 1024);
    assert.equal(e.source.component, EVENT_COMPONENT);
    assert.equal(e.firstTimestamp, '2026-01-02T03:04:05Z');
  });
});
