/**
 * Writes docs/compatibility.md from the code (src/api/compat-doc.ts).
 *   node --import tsx scripts/gen-compat.ts          # write
 *   node --import tsx scripts/gen-compat.ts --check  # exit 1 when the file is out of date
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { allKinds } from '../src/api/mod.ts';
import { renderCompatibility } from '../src/api/compat-doc.ts';

const file = fileURLToPath(new URL('../docs/compatibility.md', import.meta.url));
const text = renderCompatibility(allKinds);
if (process.argv.includes('--check')) {
  let current = '';
  try {
    current = readFileSync(file, 'utf8');
  } catch {
    // A missing file is out of date.
  }
  if (current !== text) {
    process.stderr.write('docs/compatibility.md is out of date: run node --import tsx scripts/gen-compat.ts\n');
    process.exit(1);
  }
} else {
  writeFileSync(file, text);
}
