/** The lab's OpenStack plan and neutron-server configuration (pure parts of src/lab/openstack). */
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { planLab } from '../../src/lab/plan.ts';
import { neutronServerCommand, writeNeutronConfig } from '../../src/lab/openstack/neutron.ts';

describe('lab: OpenStack', () => {
  it('plans neutron-server in its own namespace at the fabric\'s third address, beside Kubernetes', () => {
    const plan = planLab({ hosts: 2, router: false, ipv6: false, kubernetes: true, openstack: true }, []);
    assert.deepEqual(plan.openstack, { netns: 'mgl-openstack', address: '192.0.2.3/24', apiPort: 9696 });
    assert.equal(plan.kubernetes!.address, '192.0.2.2/24');
    assert.equal(planLab({ hosts: 1, router: false, ipv6: false }, []).openstack, undefined, 'only with --openstack');
  });

  it('configures ML2 with the margay driver on the given etcd, noauth, SQLite and the fake bus', () => {
    const dir = mkdtempSync(join(tmpdir(), 'margay-neutron-conf-'));
    try {
      const files = writeNeutronConfig({ dir, etcdEndpoint: 'unix:///lab/etcd/client.sock:0', bindHost: '192.0.2.3', port: 9696, resyncInterval: 10 });
      const neutron = readFileSync(files.configFiles[0]!, 'utf8');
      const ml2 = readFileSync(files.configFiles[1]!, 'utf8');
      assert.match(neutron, /^auth_strategy = noauth$/m);
      assert.match(neutron, /^transport_url = fake:\/$/m);
      assert.match(neutron, /^bind_host = 192\.0\.2\.3$/m);
      assert.match(neutron, new RegExp(`^connection = sqlite:///${files.database}\\?timeout=30$`, 'm'));
      assert.match(ml2, /^mechanism_drivers = margay$/m);
      assert.match(ml2, /^\[margay\]\netcd_endpoint = unix:\/\/\/lab\/etcd\/client\.sock:0\nopenstack_region = \nresync_interval = 10$/m);
      const command = neutronServerCommand(files);
      assert.equal(command.cmd, '/usr/bin/python3');
      assert.match(command.env.PYTHONPATH!, /integrations\/openstack$/);
      assert.deepEqual(command.args.filter((a) => a.endsWith('.conf') || a.endsWith('.ini')), files.configFiles);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
