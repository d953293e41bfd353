/** The routers kept from a graceful restart, persisted next to BIRD's files. */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { KeptRouters } from '../../src/bgp/gr-recovery.ts';

describe('kept routers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'margay-kept-'));
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('survive a new controller (an agent restart); interfaces without a router are left out; an empty set removes the file', () => {
    const path = join(dir, 'kept-routers.json');
    assert.deepEqual(new KeptRouters(path).routers, {}, 'no file: none');
    new KeptRouters(path).set({ uplink0: ['fe80::1'], uplink1: [] });
    assert.deepEqual(new KeptRouters(path).routers, { uplink0: ['fe80::1'] });
    new KeptRouters(path).set({ uplink0: [] });
    assert.equal(existsSync(path), false);
  });

  it('a damaged file keeps nothing that is not a link-local address', () => {
    const path = join(dir, 'bad.json');
    writeFileSync(path, JSON.stringify({ uplink0: ['fe80::2', '10.0.0.1', 7], uplink1: 'fe80::3' }));
    assert.deepEqual(new KeptRouters(path).routers, { uplink0: ['fe80::2'] });
    writeFileSync(path, '{not json');
    assert.deepEqual(new KeptRouters(path).routers, {});
    assert.equal(readFileSync(path, 'utf8'), '{not json', 'reading never rewrites it');
  });
});
