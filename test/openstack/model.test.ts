/**
 * The driver's pure translation (integrations/openstack/margay_neutron/model.py: ports, rules,
 * subnets, refusals), through its Python unit tests under Debian's /usr/bin/python3 (the module
 * imports nothing from Neutron).
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { it } from 'node:test';
import { REPO_ROOT } from '../agent/lab.ts';

it('the driver\'s translation passes its Python unit tests', () => {
  const res = spawnSync('/usr/bin/python3', ['-m', 'unittest', 'discover', '-s', join(REPO_ROOT, 'integrations/openstack/tests')], { encoding: 'utf8', env: { ...process.env, PYTHONDONTWRITEBYTECODE: '1' } });
  assert.equal(res.status, 0, res.stderr);
  assert.match(res.stderr, /Ran \d+ tests/);
  assert.match(res.stderr, /\nOK/);
});
