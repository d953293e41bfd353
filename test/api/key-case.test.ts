/** Keys matched as Calico's Go decoding matches them: exactly, else ignoring case (src/api/key-case.ts). */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateResource } from '../../src/api/validate.ts';

const v3 = 'projectcalico.org/v3';

describe('field names in another case', () => {
  it('are stored under the field\'s own spelling, at any depth', () => {
    const res = validateResource({
      apiVersion: v3,
      kind: 'KubeControllersConfiguration',
      metadata: { name: 'default' },
      spec: { Controllers: { loadbalancer: { ASSIGNIPS: 'RequestedServicesOnly' } } },
    });
    assert.deepEqual(res.spec?.controllers, { loadBalancer: { assignIPs: 'RequestedServicesOnly' } });
  });

  it('reach into lists (policy rules)', () => {
    const res = validateResource({ apiVersion: v3, kind: 'GlobalNetworkPolicy', metadata: { name: 'p' }, spec: { Ingress: [{ Action: 'Allow', Source: { Nets: ['10.0.0.0/8'] } }] } });
    assert.deepEqual((res.spec as { ingress: unknown[] }).ingress[0], { action: 'Allow', source: { nets: ['10.0.0.0/8'] } });
  });

  it('leave the keys of maps alone (labels are data)', () => {
    const res = validateResource({ apiVersion: v3, kind: 'Profile', metadata: { name: 'p' }, spec: { LabelsToApply: { Selector: 'x', selector: 'y' } } });
    assert.deepEqual(res.spec?.labelsToApply, { Selector: 'x', selector: 'y' });
  });

  it('give way to an exact key for the same field, and are then refused as unknown', () => {
    assert.throws(
      () => validateResource({ apiVersion: v3, kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '10.0.0.0/16', CIDR: '10.1.0.0/16' } }),
      /spec: unknown field "CIDR"/,
    );
  });

  it('do not make an unknown field known', () => {
    assert.throws(() => validateResource({ apiVersion: v3, kind: 'IPPool', metadata: { name: 'p' }, spec: { cidr: '10.0.0.0/16', cidrs: ['x'] } }), /unknown field "cidrs"/);
  });
});

describe('hostile keys', () => {
  it('a __proto__ key stays an ordinary (unknown) key', () => {
    const spec = JSON.parse('{"cidr":"10.0.0.0/16","__proto__":{"disabled":true}}');
    assert.throws(() => validateResource({ apiVersion: v3, kind: 'IPPool', metadata: { name: 'p' }, spec }), /unknown field "__proto__"/);
  });
});
