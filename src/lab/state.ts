/**
 * The lab's record of what it made: the plan, the processes (PID + start time) and the pods.
 * Written after every step of `lab up`, so a killed `lab up` still leaves enough for `lab down`.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MargayError } from '../errors/mod.ts';
import type { LabPlan } from './plan.ts';
import type { ProcessRecord } from './processes.ts';

/** The default state folder; MARGAY_LAB_DIR overrides it. */
export function labDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.MARGAY_LAB_DIR ?? '/var/run/margay-lab';
}

/** A pod the lab created through the CNI plugin. */
export interface LabPod {
  namespace: string;
  name: string;
  host: string;
  netns: string;
  containerId: string;
  addresses: string[];
  labels: Record<string, string>;
  serve: string[];
  /** The small server answering on the pod's ports. */
  server?: ProcessRecord;
}

/** The Kubernetes part of a lab (`lab up --kubernetes`). */
export interface LabKubernetes {
  /** The operator's kubeconfig: through the forwarder on 127.0.0.1 of the machine's namespace. */
  kubeconfig: string;
  /** The API server as lab hosts reach it over the fabric (`https://ADDRESS:6443`). */
  server: string;
  /** The forwarder's port on 127.0.0.1. */
  forwardPort: number;
}

/** The OpenStack part of a lab (`lab up --openstack`). */
export interface LabOpenStack {
  /** Neutron's API for the operator: through the forwarder on 127.0.0.1 of the machine's namespace. */
  url: string;
  /** Neutron's API as lab hosts reach it over the fabric (`http://ADDRESS:9696`). */
  fabricUrl: string;
  /** The forwarder's port on 127.0.0.1. */
  forwardPort: number;
  /** The `openstack` CLI's clouds.yaml (cloud `margay-lab`). */
  cloudsYaml: string;
}

/** Everything the lab knows about itself. */
export interface LabState {
  plan: LabPlan;
  /** The etcd client endpoints, comma-separated (unix sockets: no address in the machine's namespace). */
  etcdEndpoint: string;
  processes: ProcessRecord[];
  pods: LabPod[];
  /** Set once `lab up` finished. */
  ready: boolean;
  /** Hosts made to fail with `lab host fail` (wire cut, processes killed) and not yet recovered. */
  failedHosts?: string[];
  /** With --kubernetes, once the control plane is up. */
  kubernetes?: LabKubernetes;
  /** With --openstack, once neutron-server answers. */
  openstack?: LabOpenStack;
}

const STATE_FILE = 'lab.json';

/** Reads the state; undefined when there is no lab. Throws MARGAY_ERR_LAB_STATE when it cannot be read. */
export function readState(dir: string): LabState | undefined {
  const file = join(dir, STATE_FILE);
  if (!existsSync(file)) return undefined;
  let state: LabState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as LabState;
  } catch (err) {
    throw new MargayError('MARGAY_ERR_LAB_STATE', `${file}: ${(err as Error).message}; \`margay lab down\` removes the lab and this file`, { cause: err });
  }
  if (typeof state !== 'object' || state === null || typeof state.plan !== 'object' || !Array.isArray(state.processes) || !Array.isArray(state.pods)) {
    throw new MargayError('MARGAY_ERR_LAB_STATE', `${file}: not a lab state (plan, processes and pods are required); \`margay lab down\` removes the lab and this file`);
  }
  return state;
}

/** Writes the state atomically (write then rename). */
export function writeState(dir: string, state: LabState): void {
  mkdirSync(dir, { recursive: true });
  const file = join(dir, STATE_FILE);
  writeFileSync(`${file}.tmp`, JSON.stringify(state, null, 2));
  renameSync(`${file}.tmp`, file);
}
