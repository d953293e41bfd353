import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { EtcdDatastore } from '../../src/datastore/etcd.ts';
import { createDatastore } from '../../src/datastore/mod.ts';
import { hasCode } from '../../src/errors/mod.ts';
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
