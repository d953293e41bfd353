/**
 * Stand-in for the agent's `waitForEndpointProgrammed` hook while the agent does not host the CNI
 * service itself: waits until the endpoint's interface is in the host's nftables dispatch map
 * (the agent writes the endpoint's chains, its policies and the map entry in one transaction).
 */
import { workloadEndpointKind } from '../../src/api/kinds/workload-endpoint.ts';
import type { EndpointRef } from '../../src/cni/context.ts';
import { exec } from '../../src/dataplane/exec.ts';
import { DispatchMaps, interfaceChain } from '../../src/dataplane/nftables/names.ts';
import type { ResourceStore } from '../../src/datastore/resources.ts';

/** Polls `nft list map inet margay to-wl` in `hostNetns` until the endpoint's chain is there. */
export async function waitForChains(store: ResourceStore, hostNetns: string, ep: EndpointRef, timeoutMs: number): Promise<void> {
  const wep = await store.get(workloadEndpointKind, ep.name, ep.namespace);
  const iface = (wep?.spec as { interfaceName?: string } | undefined)?.interfaceName;
  if (!iface) throw new Error(`WorkloadEndpoint ${ep.namespace}/${ep.name} has no interface`);
  const chain = interfaceChain('tw', iface);
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const res = await exec('nsenter', [`--net=/run/netns/${hostNetns}`, 'nft', 'list', 'map', 'inet', 'margay', DispatchMaps.toWorkload], { allowFail: true });
    if (res.code === 0 && res.stdout.includes(chain)) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${chain}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
