/**
 * The Kubernetes client against a real kube-apiserver v1.20.2 on a real etcd: kubeconfig access
 * (CA and insecure), list in pages, watch, resume after the API server restarts, bookmarks, and
 * a relist after 410 Gone.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { useEtcd } from '../harness/etcd.ts';
import { useKube } from '../harness/kube.ts';
import { eventually } from '../harness/wait.ts';
import { Informer, KubeClient, loadKubeconfig, NAMESPACES, getObject, type KubeObject } from '../../src/kube/mod.ts';
import { hasCode } from '../../src/errors/mod.ts';


function namespaces(n: number, prefix: string, labels: Record<string, string> = {}): string {
  return Array.from({ length: n }, (_, i) => `apiVersion: v1\nkind: Namespace\nmetadata:\n  name: ${prefix}-${i}\n  labels: ${JSON.stringify(labels)}\n`).join('---\n');
}

function informer(client: KubeClient, options: Partial<ConstructorParameters<typeof Informer<KubeObject>>[0]> = {}) {
  const events: string[] = [];
  const inf = new Informer<KubeObject>({
    client,
    path: NAMESPACES.path,
    apiVersion: 'v1',
    kind: 'Namespace',
    pageSize: 7,
    backoffMs: { initial: 50, max: 500 },
    onEvent: (e) => events.push(`${e.type} ${e.object.metadata.name}`),
    ...options,
  });
  return { inf, events };
}

describe('Kubernetes client', () => {
  // etcd tells watchers its progress every second and the API server (1.20: behind a feature gate)
  // passes it to its watch cache, so that bookmarks carry a resourceVersion past changes of
  // other kinds.
  const ctx = useEtcd({ extraArgs: ['--experimental-watch-progress-notify-interval=1s'] });
  const k = useKube(() => ctx.etcd.endpoint, { controllerManager: false, apiserverArgs: ['--feature-gates=EfficientWatchResumption=true'] });
  it('reads a kubeconfig with the server certificate as CA, and one that skips verification', async () => {
    k.kube.kubectl(['create', 'namespace', 'access']);
    const viaCa = new KubeClient(loadKubeconfig(k.kube.kubeconfig));
    const insecure = new KubeClient(loadKubeconfig(k.kube.writeKubeconfig('insecure', k.kube.tokens.admin, { insecure: true })));
    try {
      const a = await getObject(viaCa, NAMESPACES, 'access');
      const b = await getObject(insecure, NAMESPACES, 'access');
      assert.equal(a?.metadata.name, 'access');
      assert.equal(b?.kind, 'Namespace');
      assert.equal(await getObject(viaCa, NAMESPACES, 'no-such-namespace'), undefined, 'a 404 is undefined');
    } finally {
      viaCa.close();
      insecure.close();
    }
  });

  it('names the file and field of a kubeconfig it cannot use, and a token the server refuses', async () => {
    const bad = join(k.kube.dir, 'exec.kubeconfig');
    writeFileSync(bad, `apiVersion: v1\nkind: Config\ncurrent-context: c\ncontexts: [{name: c, context: {cluster: k, user: u}}]\nclusters: [{name: k, cluster: {server: "${k.kube.server}"}}]\nusers: [{name: u, user: {exec: {command: aws}}}]\n`);
    assert.throws(() => loadKubeconfig(bad), (err: Error) => hasCode(err, 'MARGAY_ERR_CONFIG') && err.message.includes('users[0].user.exec'));
    const wrong = new KubeClient(loadKubeconfig(k.kube.writeKubeconfig('wrong', 'not-a-token')));
    try {
      await assert.rejects(getObject(wrong, NAMESPACES, 'default'), (err: Error) => hasCode(err, 'MARGAY_ERR_KUBE_API') && /Unauthorized/i.test(err.message));
    } finally {
      wrong.close();
    }
  });

  it('lists in pages, then watches: adds, changes and deletes arrive in order', async () => {
    k.kube.apply(namespaces(20, 'page'));
    const client = new KubeClient(loadKubeconfig(k.kube.kubeconfig));
    const { inf, events } = informer(client);
    try {
      inf.start();
      await inf.waitSynced();
      assert.ok(inf.store.has('page-19') && inf.store.has('page-0'), 'all pages listed');
      assert.ok(inf.store.size >= 24, `20 + the built-in namespaces, got ${inf.store.size}`);
      events.length = 0;
      k.kube.kubectl(['label', 'namespace', 'page-3', 'tier=gold']);
      k.kube.kubectl(['create', 'namespace', 'watched-1']);
      await eventually(() => events.includes('modified page-3') && events.includes('added watched-1'));
      assert.equal(inf.get('page-3')?.metadata.labels?.tier, 'gold');
      assert.equal(inf.stats.lists, 1, 'one list');
    } finally {
      await inf.stop();
      client.close();
    }
  });

  it('resumes from its resourceVersion after the API server restarts, without a relist', async () => {
    const client = new KubeClient(loadKubeconfig(k.kube.kubeconfig));
    const { inf, events } = informer(client);
    try {
      inf.start();
      await inf.waitSynced();
      await k.kube.stopApiserver();
      await k.kube.startApiserver();
      k.kube.kubectl(['create', 'namespace', 'after-restart']);
      await eventually(() => events.includes('added after-restart'), { timeoutMs: 30_000 });
      assert.ok(inf.stats.watches >= 2, 'the watch was opened again');
      // A restarted server may not keep the old revision in its watch cache (then 410 → relist);
      // either way nothing is lost and nothing stale stays.
      const listed = (await client.get<{ items: KubeObject[] }>('/api/v1/namespaces')).items.map((n) => n.metadata.name).sort();
      await eventually(() => assert.deepEqual([...inf.store.keys()].sort(), listed));
    } finally {
      await inf.stop();
      client.close();
    }
  });

  it('moves its resourceVersion on with bookmarks while nothing of its kind changes', async () => {
    const client = new KubeClient(loadKubeconfig(k.kube.kubeconfig));
    // Bookmarks come shortly before the watch's timeout: a short timeout makes one come soon.
    const { inf } = informer(client, { watchTimeoutSeconds: () => 4 });
    try {
      inf.start();
      await inf.waitSynced();
      const before = Number(inf.resourceVersion);
      k.kube.kubectl(['create', 'configmap', 'unrelated', '-n', 'default', '--from-literal=a=b']);
      await eventually(() => inf.stats.bookmarks > 0 && Number(inf.resourceVersion) > before, { timeoutMs: 20_000, what: 'a bookmark past the configmap' });
      assert.equal(inf.stats.lists, 1, 'bookmarks never cause a list');
    } finally {
      await inf.stop();
      client.close();
    }
  });

  it('lists again after 410 Gone: what changed while it was away is applied, deletions included', async () => {
    const cm = (names: string[], round: string): string =>
      names.map((n) => `apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${n}\n  namespace: default\ndata:\n  round: "${round}"\n`).join('---\n');
    k.kube.apply(cm(['keep', 'drop', 'change'], '0'));
    const client = new KubeClient(loadKubeconfig(k.kube.kubeconfig));
    const { inf, events } = informer(client, { path: '/api/v1/namespaces/default/configmaps', kind: 'ConfigMap' });
    try {
      inf.start();
      await inf.waitSynced();
      assert.ok(inf.store.has('default/drop'));
      await inf.stop(); // away: keeps its store and resourceVersion
      k.kube.apply(cm(Array.from({ length: 20 }, (_, i) => `churn-${i}`), '1'));
      k.kube.kubectl(['-n', 'default', 'delete', 'configmap', 'drop']);
      k.kube.apply(cm(['change'], '2'));
      // A restarted API server's watch cache starts at the current revision: the informer's
      // resourceVersion is older than anything it keeps, so the watch is answered 410 Gone.
      await k.kube.stopApiserver();
      await k.kube.startApiserver();
      events.length = 0;
      inf.start();
      await eventually(() => inf.stats.expired >= 1 && inf.stats.lists >= 2, { timeoutMs: 30_000, what: '410 then a relist' });
      assert.equal(inf.get('default/drop'), undefined, 'deleted while away');
      assert.ok(events.includes('deleted drop'), events.slice(0, 5).join());
      assert.equal((inf.get('default/change')?.data as { round?: string } | undefined)?.round, '2');
      assert.ok(inf.get('default/churn-19'));
      assert.ok(inf.get('default/keep'));
    } finally {
      await inf.stop();
      client.close();
    }
  });
});
