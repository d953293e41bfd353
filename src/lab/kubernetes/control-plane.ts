/**
 * The lab's Kubernetes control plane: kube-apiserver, kube-controller-manager and kube-scheduler in
 * the control-plane namespace on the fabric, on the lab's own etcd under their own key prefix
 * (`/registry`; Margay's data is under `/calico`). kube-apiserver 1.20's etcd client dials
 * `unix://` endpoints itself, so it uses the lab's etcd socket like every other lab process: etcd
 * still has no address anywhere.
 *
 * The operator reaches the API server through `margay-netns-forward` (native/netns-forward.c):
 * one process in the machine's namespace that listens on 127.0.0.1 and connects from inside the
 * control-plane namespace (setns), so the machine gets no lab address or route (docs/lab.md).
 */
import { join } from 'node:path';
import { exec } from '../../os/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import { formatIp, nthIp, parseCidr } from '../../net/mod.ts';
import type { LabPlan } from '../plan.ts';
import { type ProcessRecord, isRunning, startProcess } from '../processes.ts';
import { pollUntil } from '../poll.ts';
import { kubeBinary } from './paths.ts';
import { startNetnsForwarder } from '../forwarder.ts';
import type { Pki } from './pki.ts';

/** Options shared by the control-plane starters. */
export interface ControlPlaneOptions {
  plan: LabPlan;
  /** The control plane's folder (kubeconfigs, logs). */
  dir: string;
  pki: Pki;
  /** The lab's etcd endpoints (`unix://…:0`, comma-separated). */
  etcdEndpoint: string;
}

/** The API server's address on the fabric, without prefix. */
export function apiAddress(plan: LabPlan): string {
  return plan.kubernetes!.address.split('/')[0]!;
}

/** The first service IP (the `kubernetes` Service), which the serving certificate must name. */
export function firstServiceIp(plan: LabPlan): string {
  return formatIp(nthIp(parseCidr(plan.kubernetes!.serviceCidr)!, 1));
}

function start(options: ControlPlaneOptions, role: string, binary: Parameters<typeof kubeBinary>[0], args: string[]): ProcessRecord {
  return startProcess({ role, cmd: kubeBinary(binary), args, netns: options.plan.kubernetes!.netns, logFile: join(options.dir, `${binary}.log`) });
}

/** Starts kube-apiserver: TLS with the lab's certificate, static tokens, Node and RBAC authorization. */
export function startApiServer(options: ControlPlaneOptions): ProcessRecord {
  const k = options.plan.kubernetes!;
  const { pki } = options;
  return start(options, 'kube-apiserver', 'kube-apiserver', [
    `--etcd-servers=${options.etcdEndpoint}`,
    '--etcd-prefix=/registry',
    '--bind-address=0.0.0.0',
    `--advertise-address=${apiAddress(options.plan)}`,
    `--secure-port=${k.apiPort}`,
    '--insecure-port=0',
    `--tls-cert-file=${pki.serverCert}`,
    `--tls-private-key-file=${pki.serverKey}`,
    `--client-ca-file=${pki.caCert}`,
    `--token-auth-file=${pki.tokens}`,
    '--authorization-mode=Node,RBAC',
    '--enable-admission-plugins=NodeRestriction',
    `--service-account-key-file=${pki.saPub}`,
    `--service-account-signing-key-file=${pki.saKey}`,
    '--service-account-issuer=https://kubernetes.default.svc',
    `--service-cluster-ip-range=${k.serviceCidr}`,
    '--kubelet-preferred-address-types=InternalIP',
    '--allow-privileged=true',
    '--profiling=false',
    '--event-ttl=30m',
    '--max-requests-inflight=100',
    '--max-mutating-requests-inflight=50',
    '--v=1',
  ]);
}

/** Flags of the controller manager and the scheduler: one instance (no election), no serving ports, a modest API rate. */
const COMPONENT_FLAGS = ['--leader-elect=false', '--port=0', '--secure-port=0', '--kube-api-qps=20', '--kube-api-burst=40', '--v=1'];

/**
 * Starts kube-controller-manager with only the controllers a lab needs: service accounts and their
 * tokens (pods are refused without them), namespace deletion, node lifecycle (NotReady when a
 * kubelet stops) and pod garbage collection (pods of deleted nodes).
 */
export function startControllerManager(options: ControlPlaneOptions, kubeconfig: string): ProcessRecord {
  return start(options, 'kube-controller-manager', 'kube-controller-manager', [
    `--kubeconfig=${kubeconfig}`,
    `--service-account-private-key-file=${options.pki.saKey}`,
    `--root-ca-file=${options.pki.caCert}`,
    '--controllers=serviceaccount,serviceaccount-token,namespace,nodelifecycle,podgc',
    '--use-service-account-credentials=true',
    ...COMPONENT_FLAGS,
  ]);
}

/** Starts kube-scheduler (no leader election, no serving ports). */
export function startScheduler(options: ControlPlaneOptions, kubeconfig: string): ProcessRecord {
  return start(options, 'kube-scheduler', 'kube-scheduler', [
    `--kubeconfig=${kubeconfig}`,
    ...COMPONENT_FLAGS,
  ]);
}

/** Starts the forwarder from 127.0.0.1 (a free port) into the control-plane namespace; returns it and the port. */
export async function startForwarder(options: ControlPlaneOptions): Promise<{ record: ProcessRecord; port: number }> {
  const k = options.plan.kubernetes!;
  return startNetnsForwarder({ role: 'api-forwarder', fileBase: 'forward', dir: options.dir, netns: k.netns, address: apiAddress(options.plan), port: k.apiPort });
}

/** Waits until the API server answers /readyz with `ok` (through `server`, verified with the lab's CA). */
export async function waitApiReady(options: { server: string; caCert: string; token: string; record: ProcessRecord; timeoutMs: number }): Promise<void> {
  const ready = await pollUntil(async () => {
    if (!isRunning(options.record)) throw new MargayError('MARGAY_ERR_NOT_READY', `kube-apiserver exited at start; see ${options.record.logFile}`);
    const res = await exec('curl', ['-sf', '-m', '2', '--cacert', options.caCert, '-H', `Authorization: Bearer ${options.token}`, `${options.server}/readyz`], { allowFail: true });
    return res.code === 0 && res.stdout.trim() === 'ok' ? true : undefined;
  }, { deadline: Date.now() + options.timeoutMs, intervalMs: 250 });
  if (!ready) throw new MargayError('MARGAY_ERR_NOT_READY', `kube-apiserver did not become ready; see ${options.record.logFile}`);
}
