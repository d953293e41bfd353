/** `margay policy trace` and `policy matrix`, offline (-f) and against the in-memory datastore. */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { parsePortSpec } from '../../src/cli/commands/policy.ts';
import { MemoryDatastore } from '../../src/datastore/memory.ts';
import { margay } from '../cli/helpers.ts';

const MODEL = `
apiVersion: v1
kind: Namespace
metadata: {name: x, labels: {team: red}}
---
apiVersion: v1
kind: Namespace
metadata: {name: y}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: x, labels: {pod: a}}
spec: {containers: [{name: c, ports: [{name: serve-80-tcp, containerPort: 80}, {name: serve-81-udp, containerPort: 81, protocol: UDP}]}]}
---
apiVersion: v1
kind: Pod
metadata: {name: b, namespace: x, labels: {pod: b}}
spec: {containers: [{name: c}]}
---
apiVersion: v1
kind: Pod
metadata: {name: a, namespace: y, labels: {pod: a}}
spec: {containers: [{name: c}]}
status: {podIP: 10.244.0.2}
`;

const POLICIES = `
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: deny-all, namespace: x}
spec:
  podSelector: {}
  policyTypes: [Ingress]
---
apiVersion: networking.k8s.io/v1
kind: NetworkPolicy
metadata: {name: allow-y-named, namespace: x}
spec:
  podSelector: {matchLabels: {pod: a}}
  ingress:
  - from:
    - namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: y}}
    ports: [{port: serve-80-tcp}]
`;

let dir = '';
let model = '';
let policies = '';

before(() => {
  dir = mkdtempSync(join(tmpdir(), 'margay-policy-cli-'));
  model = join(dir, 'model.yaml');
  policies = join(dir, 'policies.yaml');
  writeFileSync(model, MODEL);
  writeFileSync(policies, POLICIES);
});

after(() => rmSync(dir, { recursive: true, force: true }));

interface MatrixOut {
  endpoints: Array<{ name: string; key: string; addresses: string[] }>;
  ports: string[];
  matrix: Record<string, Record<string, Record<string, string>>>;
}

describe('policy matrix - offline', () => {
  it('evaluates Kubernetes manifests: default deny, namespace selector, named port', async () => {
    const run = await margay(['policy', 'matrix', '-f', model, '-f', policies, '--port', '80/TCP', '--port', '81/UDP', '-o', 'json']);
    assert.equal(run.code, 0, run.stderr);
    const out = JSON.parse(run.stdout) as MatrixOut;
    assert.deepEqual(out.ports, ['80/TCP', '81/UDP']);
    assert.deepEqual(out.endpoints.map((e) => e.name), ['x/a', 'x/b', 'y/a']);
    const tcp = out.matrix['80/TCP']!;
    const udp = out.matrix['81/UDP']!;
    // Into x: denied except y → x/a on the named port serve-80-tcp; self is always allowed.
    assert.deepEqual(tcp['y/a'], { 'x/a': 'allow', 'x/b': 'deny', 'y/a': 'allow' });
    assert.deepEqual(udp['y/a'], { 'x/a': 'deny', 'x/b': 'deny', 'y/a': 'allow' });
    assert.deepEqual(tcp['x/b'], { 'x/a': 'deny', 'x/b': 'allow', 'y/a': 'allow' });
    assert.deepEqual(tcp['x/a'], { 'x/a': 'allow', 'x/b': 'deny', 'y/a': 'allow' });
  });

  it('prints one table per port, rows from, columns to', async () => {
    const run = await margay(['policy', 'matrix', '-f', model, '-f', policies]);
    assert.equal(run.code, 0, run.stderr);
    assert.equal(
      run.stdout,
      ['80/TCP (rows: from, columns: to)', 'FROM\\TO   x/a     x/b     y/a', 'x/a       allow   deny    allow', 'x/b       deny    allow   allow', 'y/a       allow   deny    allow', ''].join('\n'),
    );
  });

  it('restricts to namespaces or endpoints', async () => {
    const run = await margay(['policy', 'matrix', '-f', model, '-n', 'x', '-o', 'json']);
    assert.deepEqual((JSON.parse(run.stdout) as MatrixOut).endpoints.map((e) => e.name), ['x/a', 'x/b']);
    const run2 = await margay(['policy', 'matrix', '-f', model, '--endpoint', 'y/a', '--endpoint', '10.244.0.1', '-o', 'json']);
    assert.deepEqual((JSON.parse(run2.stdout) as MatrixOut).endpoints.map((e) => e.name), ['y/a', 'x/a']);
  });

  it('assigns deterministic placeholder IPs, skipping addresses pods already have', async () => {
    const run = await margay(['policy', 'matrix', '-f', model, '-o', 'json']);
    const out = JSON.parse(run.stdout) as MatrixOut;
    assert.deepEqual(
      Object.fromEntries(out.endpoints.map((e) => [e.name, e.addresses])),
      { 'x/a': ['10.244.0.1'], 'x/b': ['10.244.0.3'], 'y/a': ['10.244.0.2'] },
    );
  });

  it('rejects a bad port and an unknown endpoint', async () => {
    const bad = await margay(['policy', 'matrix', '-f', model, '--port', '80/ICMP']);
    assert.equal(bad.code, 1);
    assert.match(bad.stderr, /--port "80\/ICMP": expected PORT or PORT\/PROTOCOL/);
    const unknown = await margay(['policy', 'trace', '-f', model, '--from', 'x/zz', '--to', 'x/a', '--port', '80']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /no endpoint "x\/zz" .*known: x\/a, x\/b, y\/a/);
  });
});

describe('policy trace - offline', () => {
  it('names the policy and rule that allowed', async () => {
    const run = await margay(['policy', 'trace', '-f', model, '-f', policies, '--from', 'y/a', '--to', 'x/a', '--port', '80']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^from:    y\/a \(y\/margay--offline-k8s-a-eth0, 10\.244\.0\.2\)$/m);
    assert.match(run.stdout, /^packet:  TCP 10\.244\.0\.2:49152 -> 10\.244\.0\.1:80$/m);
    assert.match(run.stdout, /^egress of y\/a:\n  Profile kns\.y, egress rule 0: allow$/m);
    assert.match(run.stdout, /^verdict: ALLOW$/m);
    assert.match(run.stdout, /^decided by: tier default, NetworkPolicy x\/knp\.default\.allow-y-named, ingress rule 0: allow$/m);
  });

  it('names the default that denied, in JSON too', async () => {
    const run = await margay(['policy', 'trace', '-f', model, '-f', policies, '--from', 'x/b', '--to', 'x/a', '--port', '80', '-o', 'json']);
    const out = JSON.parse(run.stdout) as { verdict: string; decidedBy: { reason: string; tier: string; direction: string } };
    assert.equal(out.verdict, 'deny');
    assert.deepEqual([out.decidedBy.reason, out.decidedBy.tier, out.decidedBy.direction], ['end-of-tier', 'default', 'ingress']);
  });

  it('accepts an address outside the model and WEP names', async () => {
    const run = await margay(['policy', 'trace', '-f', model, '-f', policies, '--from', '192.0.2.9', '--to', 'x/margay--offline-k8s-b-eth0', '--port', '80']);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /^from:    192\.0\.2\.9 \(outside the model/m);
    assert.match(run.stdout, /^verdict: DENY$/m);
    const udp = await margay(['policy', 'trace', '-f', model, '--from', 'margay--offline-k8s-b-eth0', '--to', 'y/a', '--protocol', 'UDP', '--port', '53']);
    assert.match(udp.stdout, /^verdict: ALLOW$/m);
    const noPort = await margay(['policy', 'trace', '-f', model, '--from', 'x/b', '--to', 'y/a']);
    assert.equal(noPort.code, 1);
    assert.match(noPort.stderr, /--port is required for TCP/);
    const ambiguous = await margay(['policy', 'trace', '-f', model, '--from', 'margay--offline-k8s-a-eth0', '--to', 'y/a', '--port', '1']);
    assert.match(ambiguous.stderr, /names WorkloadEndpoints in several namespaces/);
  });
});

describe('policy - datastore', () => {
  it('gives the same matrix from the datastore as offline', async () => {
    const ds = new MemoryDatastore();
    try {
      // Pods in the datastore need their IPs and node: give them as the offline run assigned them.
      const offline = JSON.parse((await margay(['policy', 'matrix', '-f', model, '-f', policies, '--port', '80/TCP', '--port', '81/UDP', '-o', 'json'])).stdout) as MatrixOut;
      const withIps = MODEL.replace('metadata: {name: a, namespace: x, labels: {pod: a}}\nspec: {', 'metadata: {name: a, namespace: x, labels: {pod: a}}\nstatus: {podIP: 10.244.0.1}\nspec: {nodeName: margay-offline, ')
        .replace('metadata: {name: b, namespace: x, labels: {pod: b}}\nspec: {', 'metadata: {name: b, namespace: x, labels: {pod: b}}\nstatus: {podIP: 10.244.0.3}\nspec: {nodeName: margay-offline, ')
        .replace('metadata: {name: a, namespace: y, labels: {pod: a}}\nspec: {', 'metadata: {name: a, namespace: y, labels: {pod: a}}\nspec: {nodeName: margay-offline, ')
        .replaceAll('metadata: {name: x, labels: {team: red}}', 'metadata: {name: x, labels: {team: red, kubernetes.io/metadata.name: x}}')
        .replaceAll('metadata: {name: y}', 'metadata: {name: y, labels: {kubernetes.io/metadata.name: y}}');
      const file = join(dir, 'stored.yaml');
      writeFileSync(file, withIps);
      const applied = await margay(['apply', '-f', file, '-f', policies], { datastore: ds });
      assert.equal(applied.code, 0, applied.stderr);
      const stored = await margay(['policy', 'matrix', '--port', '80/TCP', '--port', '81/UDP', '-o', 'json'], { datastore: ds });
      assert.equal(stored.code, 0, stored.stderr);
      assert.deepEqual((JSON.parse(stored.stdout) as MatrixOut).matrix, offline.matrix);
    } finally {
      await ds.close();
    }
  });
});

describe('policy - helpers', () => {
  it('parses port specs', () => {
    assert.deepEqual(parsePortSpec('80'), { port: 80, protocol: 'tcp' });
    assert.deepEqual(parsePortSpec('53/UDP'), { port: 53, protocol: 'udp' });
    assert.deepEqual(parsePortSpec('sctp/9'), { port: 9, protocol: 'sctp' });
    assert.throws(() => parsePortSpec('0'), /expected PORT/);
    assert.throws(() => parsePortSpec('80/TCP/x'), /expected PORT/);
  });
});
