import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { dropConflictingLeases } from '../../src/dhcp/leases.ts';

describe('dhcp - stale leases', () => {
  const leases = ['1700000000 fa:16:3e:00:00:01 10.65.0.5 host-10-65-0-5 *', '1700000000 fa:16:3e:00:00:02 10.65.0.6 host-10-65-0-6 *', ''].join('\n');

  it('drops a lease whose address the hosts file now gives to another MAC', () => {
    const hosts = 'fa:16:3e:00:00:09,10.65.0.5,host-10-65-0-5\nfa:16:3e:00:00:02,10.65.0.6,host-10-65-0-6\n';
    assert.equal(dropConflictingLeases(leases, hosts), '1700000000 fa:16:3e:00:00:02 10.65.0.6 host-10-65-0-6 *\n');
  });

  it('returns the same text when nothing conflicts (also a lease of a port that is gone)', () => {
    assert.equal(dropConflictingLeases(leases, 'FA:16:3E:00:00:02,10.65.0.6,h\n'), leases);
    assert.equal(dropConflictingLeases('', 'fa:16:3e:00:00:02,10.65.0.6,h\n'), '');
  });
});
