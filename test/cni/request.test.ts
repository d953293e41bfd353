import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isValidIfname, parseCniArgs, parseRequest } from '../../src/cni/request.ts';
import { CniError } from '../../src/cni/spec.ts';

const full = { CNI_COMMAND: 'ADD', CNI_CONTAINERID: 'abc123', CNI_NETNS: '/run/netns/x', CNI_IFNAME: 'eth0', CNI_PATH: '/a:/b' };

function code(fn: () => unknown): number {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof CniError);
    return err.code;
  }
  assert.fail('expected an error');
}

describe('cni request - environment', () => {
  it('reads a full ADD', () => {
    const r = parseRequest({ ...full, CNI_ARGS: 'IgnoreUnknown=1;K8S_POD_NAMESPACE=ns;K8S_POD_NAME=p' }, '{}');
    assert.equal(r.command, 'ADD');
    assert.deepEqual(r.path, ['/a', '/b']);
    assert.deepEqual(r.args, { IgnoreUnknown: '1', K8S_POD_NAMESPACE: 'ns', K8S_POD_NAME: 'p' });
  });
  for (const missing of ['CNI_COMMAND', 'CNI_CONTAINERID', 'CNI_NETNS', 'CNI_IFNAME'] as const) {
    it(`ADD without ${missing} is 4`, () => {
      const env: Record<string, string> = { ...full };
      delete env[missing];
      assert.equal(code(() => parseRequest(env, '{}')), 4);
    });
  }
  it('DEL may have no CNI_NETNS', () => {
    const env: Record<string, string> = { ...full, CNI_COMMAND: 'DEL' };
    delete env.CNI_NETNS;
    assert.equal(parseRequest(env, '{}').netns, '');
  });
  it('VERSION, GC and STATUS need only the command', () => {
    for (const c of ['VERSION', 'GC', 'STATUS']) assert.equal(parseRequest({ CNI_COMMAND: c }, '{}').command, c);
  });
  it('an unknown command is 4', () => {
    assert.equal(code(() => parseRequest({ ...full, CNI_COMMAND: 'ATTACH' }, '{}')), 4);
  });
  it('a bad container ID, interface name or relative netns is 4', () => {
    assert.equal(code(() => parseRequest({ ...full, CNI_CONTAINERID: 'a/b' }, '{}')), 4);
    assert.equal(code(() => parseRequest({ ...full, CNI_IFNAME: 'a-very-long-interface' }, '{}')), 4);
    assert.equal(code(() => parseRequest({ ...full, CNI_NETNS: 'x' }, '{}')), 4);
  });
  it('CNI_ARGS pairs without = are 4', () => {
    assert.equal(code(() => parseCniArgs('A=1;B')), 4);
    assert.deepEqual(parseCniArgs('A=1;;B=x=y'), { A: '1', B: 'x=y' });
  });
  it('interface names', () => {
    assert.ok(isValidIfname('eth0'));
    assert.ok(!isValidIfname(''));
    assert.ok(!isValidIfname('..'));
    assert.ok(!isValidIfname('a b'));
    assert.ok(!isValidIfname('0123456789abcdef'));
  });
});
