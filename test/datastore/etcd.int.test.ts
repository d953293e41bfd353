import assert from 'node:assert/strict';
import { createServer, type Socket } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { createDatastore } from '../../src/datastore/mod.ts';
import { hasCode } from '../../src/errors/mod.ts';
import { margay } from '../cli/helpers.ts';
import { etcdctl, startEtcd, type EtcdHandle } from '../harness/etcd.ts';
import { datastoreContract } from './contract.ts';

let etcd: EtcdHandle;
before(async () => {
  etcd = await startEtcd();
});
after(async () => {
  await etcd?.destroy();
});

datastoreContract('etcd', async () => {
  const ds = new EtcdDatastore({ endpoints: etcd.endpoints, listPageSize: 2 });
  const other = new EtcdDatastore({ endpoints: etcd.endpoints });
  return {
    ds,
    other,
    compact: (rev) => ds.compact(rev),
    letLeaseExpire: async (ttl) => sleep(ttl * 1000),
    close: async () => {
      await other.close();
      await ds.close();
    },
  };
});

describe('etcd datastore - specifics', () => {
  it('reads what etcdctl wrote, and etcdctl reads what it wrote', async () => {
    const ds = createDatastore({ type: 'etcdv3', etcdEndpoints: etcd.endpoints });
    etcdctl(etcd.endpoints, ['put', '/specific/from-etcdctl', 'hello']);
    assert.equal((await ds.get('/specific/from-etcdctl'))?.value, 'hello');
    await ds.put('/specific/from-margay', '{"a":1}');
    assert.equal(etcdctl(etcd.endpoints, ['get', '--print-value-only', '/specific/from-margay']).trim(), '{"a":1}');
    await ds.close();
  });

  it('an unreachable endpoint gives MARGAY_ERR_DATASTORE_UNAVAILABLE', async () => {
    const ds = new EtcdDatastore({ endpoints: ['http://127.0.0.1:1'], dialTimeoutMs: 2000 });
    await assert.rejects(ds.get('/x'), (e: unknown) => hasCode(e, 'MARGAY_ERR_DATASTORE_UNAVAILABLE'));
    await ds.close();
  });

  it('a silent endpoint (accepts, never answers): every call returns, naming the timeout', async () => {
    const held: Socket[] = [];
    const silent = createServer((s) => void held.push(s));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const endpoint = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    const ds = new EtcdDatastore({ endpoints: [endpoint], dialTimeoutMs: 1500, timeoutName: 'the test timeout' });
    try {
      await assert.rejects(ds.get('/x'), (e: unknown) => {
        assert.ok(hasCode(e, 'MARGAY_ERR_DATASTORE_UNAVAILABLE'), String(e));
        assert.equal((e as Error).message, `etcd at ${endpoint} did not answer the request within 1.5 s (the test timeout)`);
        return true;
      });
      assert.ok(held.length >= 1, 'the listener accepted the connection and stayed silent');
      // Through the CLI: the configured variable is honoured and named.
      const run = await margay(['get', 'ippools'], { env: { ETCD_ENDPOINTS: endpoint, MARGAY_DATASTORE_TIMEOUT: '1s' } });
      assert.equal(run.code, 1);
      assert.match(run.stderr, /^etcd at http:\/\/127\.0\.0\.1:\d+ did not answer the request within 1 s \(MARGAY_DATASTORE_TIMEOUT, default 10s\)\n$/);
    } finally {
      await ds.close();
      for (const s of held) s.destroy();
      silent.close();
    }
  });

  it('listPages reads an older revision page by page, until it is compacted', async () => {
    const ds = new EtcdDatastore({ endpoints: etcd.endpoints, listPageSize: 2 });
    try {
      for (const k of ['a', 'b', 'c', 'd', 'e']) await ds.put(`/paged/${k}`, '1');
      const then = await ds.currentRevision();
      await ds.put('/paged/a', '2');
      await ds.delete('/paged/b');
      await ds.put('/paged/f', '1');
      const pages: string[][] = [];
      const read = (page: { key: string; value: string }[]): void => void pages.push(page.map((kv) => `${kv.key.slice(-1)}=${kv.value}`));
      assert.equal(await ds.listPages('/paged/', read, { revision: then }), then);
      assert.deepEqual(pages, [['a=1', 'b=1'], ['c=1', 'd=1'], ['e=1']]);
      pages.length = 0;
      const now = await ds.listPages('/paged/', read);
      assert.equal(now, await ds.currentRevision());
      assert.deepEqual(pages, [['a=2', 'c=1'], ['d=1', 'e=1'], ['f=1']]);
      await ds.compact(now);
      await assert.rejects(
        ds.listPages('/paged/', read, { revision: then }),
        (e: unknown) => hasCode(e, 'MARGAY_ERR_COMPACTED'),
      );
    } finally {
      await ds.close();
    }
  });

  it('calls after close fail with MARGAY_ERR_DATASTORE_UNAVAILABLE', async () => {
    const ds = new EtcdDatastore({ endpoints: etcd.endpoints });
    await ds.close();
    await assert.rejects(ds.get('/x'), (e: unknown) => hasCode(e, 'MARGAY_ERR_DATASTORE_UNAVAILABLE'));
  });

  it('missing TLS files are a configuration error', () => {
    assert.throws(
      () => new EtcdDatastore({ endpoints: etcd.endpoints, tls: { caFile: '/nonexistent/ca.pem' } }),
      (e: unknown) => hasCode(e, 'MARGAY_ERR_CONFIG'),
    );
  });
});

describe('etcd datastore - TLS with client certificates', () => {
  let tlsEtcd: EtcdHandle;
  before(async () => {
    tlsEtcd = await startEtcd({ tls: true });
  });
  after(async () => {
    await tlsEtcd?.destroy();
  });

  it('connects with the CA, certificate and key files', async () => {
    const tls = tlsEtcd.tls!;
    const ds = createDatastore({
      type: 'etcdv3',
      etcdEndpoints: tlsEtcd.endpoints,
      etcdCACertFile: tls.caFile,
      etcdCertFile: tls.certFile,
      etcdKeyFile: tls.keyFile,
    });
    const kv = await ds.create('/tls/k', 'v');
    assert.equal((await ds.get('/tls/k'))?.modRevision, kv.modRevision);
    await ds.close();
  });

  it('is refused without a client certificate', async () => {
    const ds = createDatastore({
      type: 'etcdv3',
      etcdEndpoints: tlsEtcd.endpoints,
      etcdCACertFile: tlsEtcd.tls!.caFile,
      dialTimeoutMs: 3000,
    });
    await assert.rejects(ds.get('/tls/k'), (e: unknown) => hasCode(e, 'MARGAY_ERR_DATASTORE_UNAVAILABLE'));
    await ds.close();
  });
});
