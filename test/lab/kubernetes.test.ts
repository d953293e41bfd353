import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { planLab } from '../../src/lab/plan.ts';
import { firstServiceIp } from '../../src/lab/kubernetes/control-plane.ts';
import { KUBELET_SYSCTLS } from '../../src/lab/kubernetes/host-mounts.ts';
import { cniConflist, containerdConfig, kubeletArgs } from '../../src/lab/kubernetes/node.ts';
import { cgroupRootOf, hostPaths, IMAGES } from '../../src/lab/kubernetes/paths.ts';
import { clusterIdentities } from '../../src/lab/kubernetes/pki.ts';
import { namespaceManifest, podManifest, portName } from '../../src/lab/kubernetes/pods.ts';
import { parseServeList } from '../../src/lab/serve.ts';

describe('lab --kubernetes: plan and configuration', () => {
  const plan = planLab({ hosts: 3, router: false, ipv6: false, kubernetes: true }, []);

  test('the control plane sits on the fabric, beside the hosts, in its own lab namespace', () => {
    assert.deepEqual(plan.kubernetes, { netns: 'mgl-control', address: '192.0.2.2/24', apiPort: 6443, serviceCidr: '10.96.0.0/16' });
    assert.ok(plan.hosts.every((h) => h.address !== plan.kubernetes!.address), 'no host has its address');
    assert.equal(firstServiceIp(plan), '10.96.0.1');
    assert.equal(planLab({ hosts: 1, router: false, ipv6: false }, []).kubernetes, undefined, 'only with --kubernetes');
    const busy = planLab({ hosts: 1, router: false, ipv6: false, kubernetes: true }, [{ cidr: '10.96.0.0/12', what: 'eth1 route' }, { cidr: '192.0.2.0/24', what: 'eth0' }]);
    assert.equal(busy.kubernetes?.serviceCidr, '172.24.0.0/16', 'service IPs never in one of the machine\'s networks');
    assert.equal(busy.kubernetes?.address, '198.51.100.2/24', 'on the chosen fabric');
  });

  test('identities: the components kubeadm names, one node user per host, the operator in system:masters', () => {
    const ids = clusterIdentities(['host-1', 'host-2']);
    assert.deepEqual(ids.find((i) => i.id === 'node-host-2'), { id: 'node-host-2', user: 'system:node:host-2', groups: ['system:nodes'] });
    assert.deepEqual(ids.find((i) => i.id === 'admin')?.groups, ['system:masters']);
    assert.equal(new Set(ids.map((i) => i.user)).size, ids.length, 'one user each');
  });

  test('containerd: its own root, state and socket; the two traps handled; the lab images and CNI folders', () => {
    const paths = hostPaths('/run/lab', 'host-1');
    const config = containerdConfig(paths, '/run/lab/cni-bin');
    for (const line of ['root = "/run/lab/hosts/host-1/containerd/root"', 'address = "/run/lab/hosts/host-1/containerd/containerd.sock"', 'restrict_oom_score_adj = true', 'netns_mounts_under_state_dir = true', `sandbox_image = "${IMAGES.pause}"`, 'bin_dir = "/run/lab/cni-bin"', 'conf_dir = "/run/lab/hosts/host-1/cni/net.d"']) {
      assert.ok(config.includes(line), `config has ${line}`);
    }
  });

  test('the CNI network: Margay alone, with the agent socket and the kubeconfig the agent reads pods with', () => {
    const conflist = JSON.parse(cniConflist({ agentSocket: '/s', kubeconfig: '/k', ipv6: true })) as { name: string; plugins: Record<string, unknown>[] };
    assert.equal(conflist.name, 'k8s-pod-network');
    assert.deepEqual(conflist.plugins, [{ type: 'margay', agent_socket: '/s', ipam: { type: 'margay-ipam', assign_ipv4: 'true', assign_ipv6: 'true' }, kubernetes: { kubeconfig: '/k' } }]);
  });

  test('kubelet: the host\'s node name and address, pods below its cgroup root, nothing outside the lab folder', () => {
    const args = kubeletArgs(plan.hosts[1]!, hostPaths('/run/lab', 'host-2'));
    for (const flag of ['--hostname-override=host-2', '--node-ip=192.0.2.12', `--cgroup-root=${cgroupRootOf('host-2')}`, '--cgroups-per-qos=true', '--root-dir=/run/lab/hosts/host-2/kubelet', '--container-runtime-endpoint=unix:///run/lab/hosts/host-2/containerd/containerd.sock']) {
      assert.ok(args.includes(flag), `kubelet gets ${flag}`);
    }
    assert.ok(args.filter((a) => a.includes('=/') && !a.startsWith('--cgroup-root=')).every((a) => a.includes('=/run/lab/') || a.startsWith('--container-runtime-endpoint=unix:///run/lab/')), 'every path is in the lab folder');
    assert.equal(KUBELET_SYSCTLS['kernel/panic'], '10');
  });

  test('a lab pod: the busybox image never pulled, serve on its ports, named as the NetworkPolicy tests name them', () => {
    const serve = parseServeList('80/tcp,81/udp');
    const pod = podManifest({ namespace: 'x', name: 'a', host: 'host-3', labels: { pod: 'a' }, serve }) as { spec: { nodeSelector: unknown; containers: Record<string, unknown>[] } };
    assert.deepEqual(pod.spec.nodeSelector, { 'kubernetes.io/hostname': 'host-3' });
    const [c] = pod.spec.containers;
    assert.equal(c!.image, IMAGES.busybox);
    assert.equal(c!.imagePullPolicy, 'Never');
    assert.deepEqual(c!.command, ['/bin/serve', 'x/a', '80/tcp,81/udp']);
    assert.deepEqual(c!.ports, [{ name: 'serve-80-tcp', containerPort: 80, protocol: 'TCP' }, { name: 'serve-81-udp', containerPort: 81, protocol: 'UDP' }]);
    assert.equal(portName(serve[1]!), 'serve-81-udp');
    const scheduled = podManifest({ namespace: 'x', name: 'b', labels: {}, serve }) as { spec: Record<string, unknown> };
    assert.equal(scheduled.spec.nodeSelector, undefined, 'without a host the scheduler chooses');
    assert.deepEqual((namespaceManifest('y', { team: 'blue' }) as { metadata: unknown }).metadata, { name: 'y', labels: { 'kubernetes.io/metadata.name': 'y', team: 'blue' } });
  });
});
