/** The agent's Node options, read from bin/margay.js's `#!` line (src/lab/entry.ts). */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { agentNodeOptions, shebangNodeOptions } from '../../src/lab/entry.ts';

test('the options of a #! line, as written or as a packager rewrites it; none of another line', () => {
  assert.deepEqual(shebangNodeOptions('#!/usr/bin/env -S node --max-semi-space-size=4 --interrupt-budget=400000'), ['--max-semi-space-size=4', '--interrupt-budget=400000']);
  assert.deepEqual(shebangNodeOptions('#!/usr/bin/node --max-semi-space-size=4'), ['--max-semi-space-size=4']);
  assert.deepEqual(shebangNodeOptions('#!/usr/bin/env -S node'), []);
  for (const other of ['#!/bin/sh', '#!/usr/bin/env node --x', '// margay', '', '#!/usr/bin/nodejs-wrapper --x']) assert.equal(shebangNodeOptions(other), undefined, other);
});

test("bin/margay.js's line gives the agent's options", () => {
  const options = agentNodeOptions();
  assert.ok(options.includes('--max-semi-space-size=4'), options.join(' '));
  assert.ok(options.some((o) => o.startsWith('--interrupt-budget=')), options.join(' '));
});
