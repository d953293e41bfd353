/** docs/compatibility.md is generated from the code; this fails when the two drift apart. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { renderCompatibility } from '../../src/api/compat-doc.ts';
import { allKinds } from '../../src/api/kinds/mod.ts';

describe('docs/compatibility.md', () => {
  it('is what scripts/gen-compat.ts renders from the code (run it after changing a schema or field-effects.ts)', () => {
    const committed = readFileSync(new URL('../../docs/compatibility.md', import.meta.url), 'utf8');
    assert.equal(committed, renderCompatibility(allKinds));
  });

  it('lists every kind and names a status for every field', () => {
    const text = renderCompatibility(allKinds);
    for (const def of allKinds) assert.match(text, new RegExp(`^## ${def.kind}$`, 'm'));
    const rows = text.split('\n').filter((l) => l.startsWith('| `'));
    assert.ok(rows.length > 1000);
    for (const r of rows) assert.match(r, /\| (supported|no effect|refused) \|/);
  });
});
