// Shared builders for the policy-kind tests (not a test file itself).
import assert from 'node:assert/strict';
import { ResourceValidationError, validateResource } from '../../src/api/validate.ts';
import type { Resource } from '../../src/api/resource.ts';

export const API = 'projectcalico.org/v3';

export type Obj = Record<string, unknown>;

export function gnp(spec: Obj, name = 'thing', labels?: Record<string, string>): Obj {
  return { apiVersion: API, kind: 'GlobalNetworkPolicy', metadata: { name, ...(labels ? { labels } : {}) }, spec };
}

export function np(spec: Obj, name = 'thing', namespace = 'default'): Obj {
  return { apiVersion: API, kind: 'NetworkPolicy', metadata: { name, namespace }, spec };
}

/** A GlobalNetworkPolicy with one ingress rule. */
export function ingressRule(rule: Obj): Obj {
  return gnp({ selector: 'all()', ingress: [rule] });
}

export function tier(name: string, spec: Obj = {}): Obj {
  return { apiVersion: API, kind: 'Tier', metadata: { name }, spec };
}

export function hep(spec: Obj, name = 'hep1'): Obj {
  return { apiVersion: API, kind: 'HostEndpoint', metadata: { name }, spec };
}

/** A WorkloadEndpoint whose name matches node1/k8s/pod1/eth0 unless the spec changes those. */
export function wep(spec: Obj, name = 'node1-k8s-pod1-eth0', namespace = 'default'): Obj {
  return {
    apiVersion: API,
    kind: 'WorkloadEndpoint',
    metadata: { name, namespace },
    spec: { node: 'node1', orchestrator: 'k8s', pod: 'pod1', endpoint: 'eth0', interfaceName: 'cali0123456789a', ...spec },
  };
}

export function gns(spec: Obj, labels?: Record<string, string>, name = 'testset'): Obj {
  return { apiVersion: API, kind: 'GlobalNetworkSet', metadata: { name, ...(labels ? { labels } : {}) }, spec };
}

export function netset(spec: Obj, labels?: Record<string, string>, name = 'testset'): Obj {
  return { apiVersion: API, kind: 'NetworkSet', metadata: { name, namespace: 'ns1', ...(labels ? { labels } : {}) }, spec };
}

export function profile(spec: Obj, name = 'prof1'): Obj {
  return { apiVersion: API, kind: 'Profile', metadata: { name }, spec };
}

export function issuesOf(input: unknown): ResourceValidationError['issues'] | undefined {
  try {
    validateResource(input);
    return undefined;
  } catch (err) {
    if (err instanceof ResourceValidationError) return err.issues;
    throw err;
  }
}

export function accept(input: unknown): Resource {
  try {
    return validateResource(input);
  } catch (err) {
    if (err instanceof ResourceValidationError) assert.fail(`expected valid, got: ${err.message}`);
    throw err;
  }
}

/** Asserts the resource is rejected; when `path` is given, one issue must have exactly that path. */
export function reject(input: unknown, path?: string): void {
  const issues = issuesOf(input);
  assert.ok(issues, 'expected the resource to be rejected');
  if (path !== undefined) {
    assert.ok(
      issues.some((i) => i.path === path),
      `expected an issue at ${path}, got ${JSON.stringify(issues)}`,
    );
  }
}

/** A table case: a description, the resource, and whether it is valid (or the path it fails at). */
export type Case = [string, Obj, true | false | string];

export function runCase([, input, expected]: Case): void {
  if (expected === true) accept(input);
  else if (expected === false) reject(input);
  else reject(input, expected);
}
