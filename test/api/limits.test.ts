import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { decodeDocuments, decodeResources } from '../../src/api/decode.ts';
import { MAX_NESTING_DEPTH, MAX_TEXT_NESTING, textNesting, tooDeep } from '../../src/api/limits.ts';
import { validateResource } from '../../src/api/validate.ts';
import { hasCode } from '../../src/errors/mod.ts';

function resource(kind: string, spec: Record<string, unknown>, metadata: Record<string, unknown> = {}) {
  const name = kind === 'KubeControllersConfiguration' ? 'default' : 'r1';
  return { apiVersion: 'projectcalico.org/v3', kind, metadata: { name, ...metadata }, spec };
}

/** The validation message of `input`, or undefined when it is valid. */
function problem(input: unknown): string | undefined {
  try {
    validateResource(input);
    return undefined;
  } catch (err) {
    assert.ok(hasCode(err, 'MARGAY_ERR_VALIDATION'), String(err));
    return (err as Error).message;
  }
}

describe('limits - checked at validation with the field path', () => {
  it('metadata.annotations of every kind: at most 256 KiB together', () => {
    const pool = (size: number) => resource('IPPool', { cidr: '10.0.0.0/16' }, { annotations: { note: 'x'.repeat(size) } });
    assert.equal(problem(pool(256 * 1024 - 4)), undefined);
    assert.match(problem(pool(256 * 1024))!, /^IPPool "r1": metadata\.annotations: annotations are 262148 bytes together; at most 262144/);
    assert.match(problem(pool(2 << 20))!, /metadata\.annotations: annotations are 2097156 bytes/);
    assert.match(problem(resource('GlobalNetworkSet', {}, { annotations: { 'bad key!': 'v' } }))!, /metadata\.annotations\["bad key!"\]: annotation key "bad key!" is invalid/);
  });

  it('a resource larger than 1 MiB stored is refused, naming its largest field', () => {
    const nets = Array.from({ length: 70_000 }, (_, i) => `10.${(i >> 8) & 255}.${i & 255}.0/24`);
    assert.match(problem(resource('GlobalNetworkSet', { nets }))!, /^GlobalNetworkSet "r1": spec\.nets: the resource is \d+ bytes when stored \(this field \d+\); at most 1048576/);
  });

  it('durations: at most 596h31m23s (a timer beyond would fire at once), never negative', () => {
    const felix = (v: string) => resource('FelixConfiguration', { routeRefreshInterval: v });
    assert.equal(problem(felix('596h')), undefined);
    assert.match(problem(felix('597h'))!, /spec\.routeRefreshInterval: must be at most 596h31m23s/);
    assert.match(problem(resource('KubeControllersConfiguration', { controllers: { node: { leakGracePeriod: '1000h' } } }))!, /spec\.controllers\.node\.leakGracePeriod: must be at most/);
    assert.match(problem(resource('BGPConfiguration', { nodeMeshMaxRestartTime: '-1s' }))!, /spec\.nodeMeshMaxRestartTime: must not be negative/);
    assert.match(problem(resource('FelixConfiguration', { healthTimeoutOverrides: [{ name: 'x', timeout: '9999h' }] }))!, /spec\.healthTimeoutOverrides\[0\]\.timeout: must be at most/);
    assert.match(problem(resource('BGPPeer', { keepaliveTime: '7h' }))!, /spec\.keepaliveTime: must be at most 21845s/);
  });

  it('numbers that reach sockets, links and the kernel are in range', () => {
    assert.match(problem(resource('FelixConfiguration', { healthPort: 70000 }))!, /spec\.healthPort: must be at most 65535/);
    assert.match(problem(resource('FelixConfiguration', { vxlanVNI: 1 << 24 }))!, /spec\.vxlanVNI: must be at most 16777215/);
    assert.match(problem(resource('FelixConfiguration', { maxIpsetSize: 2 ** 40 }))!, /spec\.maxIpsetSize: must be at most 2147483647/);
  });

  it('metadata: resourceVersion is a revision, uid and timestamps are short', () => {
    assert.match(problem(resource('IPPool', { cidr: '10.0.0.0/16' }, { resourceVersion: 'abc' }))!, /metadata\.resourceVersion: must be a revision number/);
    assert.match(problem(resource('IPPool', { cidr: '10.0.0.0/16' }, { uid: 'u'.repeat(200) }))!, /metadata\.uid: must be at most 128 characters/);
  });

  it('user values in messages are quoted, escaped and cut', () => {
    const msg = problem(resource('IPPool', { cidr: '10.0.0.0/16' }, { labels: { app: `a\nb\u001b[31m${'z'.repeat(5000)}` } }))!;
    assert.doesNotMatch(msg, /[\n\u001b]/);
    assert.match(msg, /label value "a\\nb\\u001b\[31mz+…z+" \(5008 characters\) is invalid/);
  });
});

describe('limits - nesting, measured before and after parsing', () => {
  it('a text nested deeper than the parser can take is refused before parsing, with its line', () => {
    for (const text of ['['.repeat(300) + ']'.repeat(300), '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000), `a:\n${'  - '.repeat(300)}x`]) {
      assert.throws(() => decodeDocuments(text, 'deep.yaml'), (e: unknown) => hasCode(e, 'MARGAY_ERR_TOO_LARGE') && /^deep\.yaml: line \d+: nested more than 256 levels deep$/.test((e as Error).message));
    }
  });

  it('a document nested deeper than 64 levels is refused naming the path', () => {
    const text = `kind: GlobalNetworkSet\nspec:\n  x: ${'['.repeat(MAX_NESTING_DEPTH + 1)}${']'.repeat(MAX_NESTING_DEPTH + 1)}`;
    assert.throws(() => decodeResources(text, 'deep.yaml'), (e: unknown) => hasCode(e, 'MARGAY_ERR_TOO_LARGE') && /^deep\.yaml: line 1: spec\.x\[0\]\[0\].*: nested more than 64 levels deep$/.test((e as Error).message));
  });

  it('measures without recursion, and does not over-count quoted brackets or comments', () => {
    let deep: unknown = 1;
    for (let i = 0; i < 200_000; i++) deep = [deep];
    assert.equal(tooDeep(deep, 10)?.startsWith('[0][0]'), true);
    assert.equal(tooDeep({ a: [{ b: 1 }] }, 3), undefined);
    assert.equal(textNesting(`a: "[[[[[[" # {{{{{{{\nb: '{{{{{{'\n`).depth, 1);
    assert.ok(textNesting('['.repeat(MAX_TEXT_NESTING + 1)).depth > MAX_TEXT_NESTING);
  });
});
