import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatResult, parseResult, type CniResult } from '../../src/cni/result.ts';

const result: CniResult = {
  interfaces: [
    { name: 'cali0123456789a', mac: 'ee:ee:ee:ee:ee:ee', mtu: 1500 },
    { name: 'eth0', mac: '02:00:00:00:00:01', mtu: 1500, sandbox: '/run/netns/c' },
  ],
  ips: [
    { address: '10.244.0.5/32', interface: 1 },
    { address: 'fd00:10:244::5/128', interface: 1 },
  ],
  routes: [
    { dst: '0.0.0.0/0', gw: '169.254.1.1' },
    { dst: '::/0', gw: 'fe80::ecee:eeff:feee:eeee' },
  ],
};

describe('cni result - shapes per version', () => {
  it('0.3.1 and 0.4.0 carry "version" in each IP configuration', () => {
    for (const v of ['0.3.1', '0.4.0'] as const) {
      const out = formatResult(result, v) as { cniVersion: string; ips: { version: string }[]; interfaces: Record<string, unknown>[] };
      assert.equal(out.cniVersion, v);
      assert.deepEqual(out.ips.map((i) => i.version), ['4', '6']);
      assert.equal(out.interfaces[1]!.mtu, undefined);
    }
  });
  it('1.0.0 has no "version"; 1.1.0 adds interface MTUs', () => {
    const v1 = formatResult(result, '1.0.0') as { ips: Record<string, unknown>[]; interfaces: Record<string, unknown>[] };
    assert.equal(v1.ips[0]!.version, undefined);
    assert.equal(v1.interfaces[0]!.mtu, undefined);
    const v11 = formatResult(result, '1.1.0') as { interfaces: Record<string, unknown>[] };
    assert.equal(v11.interfaces[1]!.mtu, 1500);
  });
  it('exact 1.0.0 document', () => {
    assert.deepEqual(formatResult(result, '1.0.0'), {
      cniVersion: '1.0.0',
      interfaces: [
        { name: 'cali0123456789a', mac: 'ee:ee:ee:ee:ee:ee' },
        { name: 'eth0', mac: '02:00:00:00:00:01', sandbox: '/run/netns/c' },
      ],
      ips: [
        { interface: 1, address: '10.244.0.5/32' },
        { interface: 1, address: 'fd00:10:244::5/128' },
      ],
      routes: [
        { dst: '0.0.0.0/0', gw: '169.254.1.1' },
        { dst: '::/0', gw: 'fe80::ecee:eeff:feee:eeee' },
      ],
      dns: {},
    });
  });
  it('reads back what it printed, for every version', () => {
    for (const v of ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const) {
      const back = parseResult(JSON.parse(JSON.stringify(formatResult(result, v))));
      assert.deepEqual(back.ips.map((i) => i.address), ['10.244.0.5/32', 'fd00:10:244::5/128']);
      assert.equal(back.interfaces[1]!.sandbox, '/run/netns/c');
    }
  });
  it('reads a host-local 0.4.0 result', () => {
    const r = parseResult({ cniVersion: '0.4.0', ips: [{ version: '4', address: '10.1.0.2/24', gateway: '10.1.0.1' }], dns: {} });
    assert.deepEqual(r.ips, [{ address: '10.1.0.2/24', gateway: '10.1.0.1' }]);
  });
  it('rejects what is not a result with code 6', () => {
    assert.throws(() => parseResult('x'), (e: { code?: number }) => e.code === 6);
    assert.throws(() => parseResult({ ips: [{ address: '10.0.0.1' }] }), (e: { code?: number }) => e.code === 6);
  });
});
