/**
 * `lab status` for the Kubernetes parts: the control plane's processes, and every node as the API
 * server sees it beside the host's kubelet and containerd processes.
 */
import { isRunning } from '../processes.ts';
import type { LabState } from '../state.ts';
import { kubectl, labKubeconfig } from './kubectl.ts';

const CONTROL_PLANE = ['kube-apiserver', 'api-forwarder', 'kube-controller-manager', 'kube-scheduler', 'kube-controllers'];

function processState(state: LabState, role: string): string {
  const record = state.processes.find((p) => p.role === role);
  if (!record) return 'not started';
  return isRunning(record) ? `running (pid ${record.pid})` : 'stopped';
}

/** Rows of the CONTROL PLANE table: component, state, detail. */
export function controlPlaneRows(state: LabState): string[][] {
  const k = state.kubernetes!;
  return CONTROL_PLANE.map((role) => [
    role,
    processState(state, role),
    role === 'kube-apiserver' ? `${k.server} (operator: https://127.0.0.1:${k.forwardPort})` : role === 'api-forwarder' ? `127.0.0.1:${k.forwardPort} -> ${k.server}` : '',
  ]);
}

interface ApiNode {
  metadata: { name: string };
  status?: { conditions?: { type: string; status: string }[]; nodeInfo?: { kubeletVersion?: string; containerRuntimeVersion?: string } };
}

/** Rows of the NODES table: node, Ready, kubelet, containerd, versions (from the API when it answers). */
export async function nodeRows(state: LabState): Promise<string[][]> {
  const res = await kubectl(labKubeconfig(state), ['get', 'nodes', '-o', 'json'], { allowFail: true, timeoutMs: 10_000 });
  const nodes = res.code === 0 ? (JSON.parse(res.stdout) as { items: ApiNode[] }).items : [];
  return state.plan.hosts.map((h) => {
    const node = nodes.find((n) => n.metadata.name === h.name);
    const ready = node?.status?.conditions?.find((c) => c.type === 'Ready');
    const info = node?.status?.nodeInfo;
    return [
      h.name,
      res.code !== 0 ? 'API unreachable' : !node ? 'not registered' : ready?.status === 'True' ? 'Ready' : 'NotReady',
      processState(state, `kubelet ${h.name}`),
      processState(state, `containerd ${h.name}`),
      info ? `${info.kubeletVersion ?? ''} ${info.containerRuntimeVersion ?? ''}`.trim() : '',
    ];
  });
}
