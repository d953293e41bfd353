import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseNetConf } from '../../src/cni/config.ts';
import { CniError } from '../../src/cni/spec.ts';

function code(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CniError, `expected a CniError, got ${String(err)}`);
    return err.code;
  }
  assert.fail('expected an error');
}

const base = { cniVersion: '1.0.0', name: 'mnet', type: 'margay' };
const conf = (extra: Record<string, unknown> = {}) => JSON.stringify({ ...base, ...extra });

describe('cni config - versions', () => {
  for (const v of ['0.3.1', '0.4.0', '1.0.0', '1.1.0']) {
    it(`accepts cniVersion ${v}`, () => {
      assert.equal(parseNetConf(conf({ cniVersion: v })).cniVersion, v);
    });
  }
  for (const v of ['0.1.0', '0.2.0', '0.3.0', '2.0.0', 'x']) {
    it(`refuses cniVersion ${v} with code 1`, () => {
      assert.equal(code(() => parseNetConf(conf({ cniVersion: v }))), 1);
    });
  }
  it('a missing cniVersion is an invalid configuration (7)', () => {
    assert.equal(code(() => parseNetConf(JSON.stringify({ name: 'n', type: 'margay' }))), 7);
  });
});

describe('cni config - decoding and fields', () => {
  it('text that is not JSON is a decode failure (6)', () => {
    assert.equal(code(() => parseNetConf('{"cniVersion": ')), 6);
    assert.equal(code(() => parseNetConf('[1,2]')), 6);
  });
  it('a bad network name is 7 and names the field', () => {
    try {
      parseNetConf(conf({ name: 'bad name' }));
      assert.fail();
    } catch (err) {
      assert.equal((err as CniError).code, 7);
      assert.match((err as Error).message, /name/);
    }
  });
  it('defaults: margay IPAM, IPv4 only, MTU 0 (agent default), namespace default', () => {
    const c = parseNetConf(conf());
    assert.deepEqual(
      { type: c.ipam.type, builtin: c.ipam.builtin, v4: c.ipam.assignIpv4, v6: c.ipam.assignIpv6, mtu: c.mtu, ns: c.namespace },
      { type: 'margay-ipam', builtin: true, v4: true, v6: false, mtu: 0, ns: 'default' },
    );
  });
  it("Calico's string booleans and pools", () => {
    const c = parseNetConf(conf({ ipam: { type: 'calico-ipam', assign_ipv4: 'false', assign_ipv6: 'true', ipv6_pools: ['v6pool'] } }));
    assert.equal(c.ipam.builtin, true);
    assert.equal(c.ipam.assignIpv4, false);
    assert.equal(c.ipam.assignIpv6, true);
    assert.deepEqual(c.ipam.ipv6Pools, ['v6pool']);
  });
  it('no family at all is 7', () => {
    assert.equal(code(() => parseNetConf(conf({ ipam: { type: 'margay-ipam', assign_ipv4: false } }))), 7);
  });
  it('another IPAM type is delegated', () => {
    const c = parseNetConf(conf({ ipam: { type: 'host-local', ranges: [[{ subnet: '10.1.0.0/24' }]] } }));
    assert.equal(c.ipam.builtin, false);
    assert.equal(c.ipam.type, 'host-local');
  });
  it('an IPAM type with a slash is 7', () => {
    assert.equal(code(() => parseNetConf(conf({ ipam: { type: '../evil' } }))), 7);
  });
  it('MTU bounds', () => {
    assert.equal(parseNetConf(conf({ mtu: 1400 })).mtu, 1400);
    assert.equal(code(() => parseNetConf(conf({ mtu: 10 }))), 7);
    assert.equal(code(() => parseNetConf(conf({ mtu: 1.5 }))), 7);
    assert.equal(code(() => parseNetConf(conf({ mtu: '1400' }))), 7);
  });
  it('labels from args.cni.labels, then runtimeConfig.labels', () => {
    const c = parseNetConf(
      conf({
        args: { cni: { labels: [{ key: 'app', value: 'web' }, { key: 'tier', value: 'a' }] } },
        runtimeConfig: { labels: { tier: 'b', 'example.com/team': 'x' } },
      }),
    );
    assert.deepEqual(c.labels, { app: 'web', tier: 'b', 'example.com/team': 'x' });
  });
  it('a bad label is 7 and names where it came from', () => {
    assert.throws(() => parseNetConf(conf({ args: { cni: { labels: [{ key: 'a b', value: 'x' }] } } })), /args\.cni\.labels\[0\]\.key/);
    assert.throws(() => parseNetConf(conf({ runtimeConfig: { labels: { ok: 'not ok!' } } })), /runtimeConfig\.labels\.ok/);
  });
  it('runtimeConfig ips and mac', () => {
    const c = parseNetConf(conf({ runtimeConfig: { ips: ['10.244.0.9/24'], mac: 'AA:BB:CC:00:11:22' } }));
    assert.deepEqual(c.requestedIps, ['10.244.0.9']);
    assert.equal(c.requestedMac, 'aa:bb:cc:00:11:22');
    assert.equal(code(() => parseNetConf(conf({ runtimeConfig: { mac: 'nope' } }))), 7);
  });
  it('GC attachments', () => {
    const c = parseNetConf(conf({ cniVersion: '1.1.0', 'cni.dev/valid-attachments': [{ containerID: 'a', ifname: 'eth0' }] }));
    assert.deepEqual(c.validAttachments, [{ containerID: 'a', ifname: 'eth0' }]);
    assert.equal(code(() => parseNetConf(conf({ 'cni.dev/valid-attachments': [{ containerID: 'a' }] }))), 7);
  });
  it("ignores keys it does not use (Calico's datastore settings)", () => {
    const c = parseNetConf(conf({ etcd_endpoints: 'http://x:2379', datastore_type: 'etcdv3', policy: { type: 'k8s' }, kubernetes: {} }));
    assert.equal(c.name, 'mnet');
  });
  it('namespace for plain containers', () => {
    assert.equal(parseNetConf(conf({ namespace: 'team-a' })).namespace, 'team-a');
    assert.equal(code(() => parseNetConf(conf({ namespace: 'Team A' }))), 7);
  });
});
