/**
 * The lab cluster's credentials, made at `lab up` in the lab folder and gone with it: a CA and the
 * API server's serving certificate (openssl), the service-account signing key pair, one bearer
 * token per identity (the API server's `--token-auth-file`), and a kubeconfig per client.
 *
 * Identities follow what kubeadm sets up, so the API server's Node and RBAC authorizers apply
 * unchanged: `system:kube-controller-manager`, `system:kube-scheduler`, `system:node:<host>` in
 * `system:nodes`; the operator is in `system:masters`. Margay's components use ServiceAccount
 * tokens, as on a real cluster (rbac.ts).
 */
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { stringify } from 'yaml';
import { exec } from '../../os/mod.ts';
import { MargayError } from '../../errors/mod.ts';

/** One identity of the cluster. */
export interface Identity {
  /** File-name friendly name (`admin`, `node-host-1`). */
  id: string;
  user: string;
  groups: string[];
  token: string;
}

/** The files `writePki` made. */
export interface Pki {
  dir: string;
  caCert: string;
  serverCert: string;
  serverKey: string;
  saKey: string;
  saPub: string;
  tokens: string;
  identities: Identity[];
}

/** The cluster's identities for `hosts`. */
export function clusterIdentities(hosts: string[]): Omit<Identity, 'token'>[] {
  return [
    { id: 'admin', user: 'margay-lab-admin', groups: ['system:masters'] },
    { id: 'controller-manager', user: 'system:kube-controller-manager', groups: [] },
    { id: 'scheduler', user: 'system:kube-scheduler', groups: [] },
    ...hosts.map((h) => ({ id: `node-${h}`, user: `system:node:${h}`, groups: ['system:nodes'] })),
  ];
}

async function openssl(args: string[]): Promise<void> {
  await exec('openssl', args, { timeoutMs: 60_000 });
}

/** An EC P-256 key (fast to make; the API server takes ECDSA serving and signing keys). */
async function ecKey(path: string): Promise<void> {
  await openssl(['ecparam', '-name', 'prime256v1', '-genkey', '-noout', '-out', path]);
}

/** Options of {@link writePki}. */
export interface PkiOptions {
  dir: string;
  hosts: string[];
  /** Addresses the serving certificate must name (the control address, 127.0.0.1, the service IP). */
  ips: string[];
}

/** Makes the CA, the serving certificate, the service-account keys and the token file. */
export async function writePki(options: PkiOptions): Promise<Pki> {
  const dir = options.dir;
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (name: string) => join(dir, name);
  await ecKey(f('ca.key'));
  await openssl(['req', '-x509', '-new', '-key', f('ca.key'), '-out', f('ca.crt'), '-days', '3650', '-subj', '/CN=margay-lab-ca']);
  await ecKey(f('apiserver.key'));
  await openssl(['req', '-new', '-key', f('apiserver.key'), '-out', f('apiserver.csr'), '-subj', '/CN=kube-apiserver']);
  const names = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];
  const san = [...options.ips.map((ip) => `IP:${ip}`), ...names.map((n) => `DNS:${n}`)].join(',');
  writeFileSync(f('apiserver.ext'), `subjectAltName=${san}\nextendedKeyUsage=serverAuth\nkeyUsage=digitalSignature,keyEncipherment\n`);
  await openssl(['x509', '-req', '-in', f('apiserver.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-CAcreateserial', '-out', f('apiserver.crt'), '-days', '3650', '-extfile', f('apiserver.ext')]);
  await ecKey(f('sa.key'));
  await openssl(['ec', '-in', f('sa.key'), '-pubout', '-out', f('sa.pub')]);
  const identities = clusterIdentities(options.hosts).map((i) => ({ ...i, token: randomBytes(24).toString('hex') }));
  // token,user,uid,"group1,group2" (the API server's static token file).
  writeFileSync(f('tokens.csv'), identities.map((i) => `${i.token},${i.user},${i.user},"${i.groups.join(',')}"`).join('\n') + '\n', { mode: 0o600 });
  return { dir, caCert: f('ca.crt'), serverCert: f('apiserver.crt'), serverKey: f('apiserver.key'), saKey: f('sa.key'), saPub: f('sa.pub'), tokens: f('tokens.csv'), identities };
}

/** The identity `id` of the PKI, or an error (a programming mistake). */
export function identity(pki: Pki, id: string): Identity {
  const found = pki.identities.find((i) => i.id === id);
  if (!found) throw new MargayError('MARGAY_ERR_CONFIG', `the lab's credentials have no identity ${id}: run \`margay lab down\` and \`lab up --kubernetes\` again`);
  return found;
}

/** Writes a kubeconfig for `who` (a user and its bearer token) reaching `server`, verified against the lab's CA. */
export function writeKubeconfig(path: string, options: { server: string; caCert: string; who: Pick<Identity, 'user' | 'token'> }): void {
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'margay-lab', cluster: { server: options.server, 'certificate-authority': options.caCert } }],
    users: [{ name: options.who.user, user: { token: options.who.token } }],
    contexts: [{ name: 'margay-lab', context: { cluster: 'margay-lab', user: options.who.user } }],
    'current-context': 'margay-lab',
  };
  writeFileSync(path, stringify(config), { mode: 0o600 });
}
