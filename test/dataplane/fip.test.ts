// Floating IP chains (pure rendering): Felix's choice on collisions, families, nothing when empty.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { renderFloatingIpChains } from '../../src/dataplane/nftables/fip-manager.ts';

const texts = (chains: ReturnType<typeof renderFloatingIpChains>, name: string) => chains.find((c) => c.name === name)?.rules.map((r) => r.body);

describe('floating IP chains', () => {
  it('DNATs each external address, SNATs the hairpin, hooks prerouting, output and postrouting before NAT outgoing', () => {
    const chains = renderFloatingIpChains(
      [
        { internal: '10.0.0.5', external: '203.0.113.9' },
        { internal: '10.0.0.4', external: '203.0.113.9' }, // same external: the smaller internal wins
        { internal: '10.0.0.5', external: '203.0.113.7' }, // second external of one internal: the smaller one SNATs
        { internal: 'fd00::5', external: '2001:db8::9' },
      ],
      [4, 6],
    );
    assert.deepEqual(texts(chains, 'fip-dnat'), [
      'ip6 daddr 2001:db8::9 dnat ip6 to fd00::5',
      'ip daddr 203.0.113.7 dnat ip to 10.0.0.5',
      'ip daddr 203.0.113.9 dnat ip to 10.0.0.4',
    ]);
    assert.deepEqual(texts(chains, 'fip-snat'), [
      'ip saddr 10.0.0.4 ip daddr 10.0.0.4 snat ip to 203.0.113.9',
      'ip saddr 10.0.0.5 ip daddr 10.0.0.5 snat ip to 203.0.113.7',
      'ip6 saddr fd00::5 ip6 daddr fd00::5 snat ip6 to 2001:db8::9',
    ]);
    const hooks = chains.filter((c) => c.base).map((c) => `${c.name} ${c.base!.type} ${c.base!.hook} ${c.base!.priority}`);
    assert.deepEqual(hooks, ['nat-fip-prerouting nat prerouting -100', 'nat-fip-output nat output -100', 'nat-fip-postrouting nat postrouting 99']);
  });

  it('leaves out families not enabled, and renders nothing without NATs', () => {
    assert.deepEqual(renderFloatingIpChains([{ internal: 'fd00::5', external: '2001:db8::9' }], [4]), []);
    assert.deepEqual(renderFloatingIpChains([], [4, 6]), []);
  });
});
