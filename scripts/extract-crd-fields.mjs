#!/usr/bin/env node
/**
 * Reads Calico's projectcalico.org/v3 CRD schemas from a checkout of projectcalico/calico and
 * writes the field facts Margay's parity test checks against: for each kind, every field path of
 * `spec` with its type, enum, default, pattern and bounds, and the messages of the CEL rules
 * (x-kubernetes-validations) with where they sit. Descriptions are left out on purpose
 * (only the facts a validator needs are kept).
 *
 *   node scripts/extract-crd-fields.mjs CALICO_GIT_DIR REF > test/api/fixtures/calico-crd-fields.json
 *
 * CALICO_GIT_DIR is a git directory (a bare mirror works); REF a tag such as v3.32.0.
 */
import { execFileSync } from 'node:child_process';
import { parse } from 'yaml';

const [gitDir, ref] = process.argv.slice(2);
if (!gitDir || !ref) {
  process.stderr.write('usage: extract-crd-fields.mjs CALICO_GIT_DIR REF\n');
  process.exit(2);
}
const git = (...args) => execFileSync('git', ['--git-dir', gitDir, ...args], { encoding: 'utf8', maxBuffer: 64 << 20 });

const FACTS = ['type', 'enum', 'default', 'pattern', 'minimum', 'maximum', 'maxLength', 'minLength', 'maxItems', 'format', 'x-kubernetes-int-or-string'];

/** Flattens a schema into `path → facts`; array items get `[]`, map values `{}`. CEL rules go to `rules`. */
function walk(schema, path, out, rules) {
  for (const v of schema['x-kubernetes-validations'] ?? []) rules.push({ path, message: v.message });
  const facts = {};
  for (const k of FACTS) if (schema[k] !== undefined) facts[k] = schema[k];
  if (schema.anyOf) facts.anyOf = schema.anyOf.map((s) => s.type).filter(Boolean);
  if (schema.allOf) for (const s of schema.allOf) for (const k of FACTS) if (s[k] !== undefined) facts[k] = s[k];
  if (path) out[path] = facts;
  if (schema.properties) {
    for (const [k, v] of Object.entries(schema.properties)) walk(v, path ? `${path}.${k}` : k, out, rules);
  }
  if (schema.items) walk(schema.items, `${path}[]`, out, rules);
  if (schema.additionalProperties && typeof schema.additionalProperties === 'object') walk(schema.additionalProperties, `${path}{}`, out, rules);
}

const files = git('ls-tree', '--name-only', `${ref}:api/config/crd/`).split('\n').filter((f) => f.endsWith('.yaml'));
const kinds = {};
for (const file of files) {
  const crd = parse(git('show', `${ref}:api/config/crd/${file}`));
  const kind = crd.spec.names.kind;
  const version = crd.spec.versions.find((v) => v.name === 'v3');
  const schema = version.schema.openAPIV3Schema;
  const fields = {};
  // Rules on the whole object (they name metadata) are kept with the path `(object)`.
  const rules = (schema['x-kubernetes-validations'] ?? []).map((v) => ({ path: '(object)', message: v.message }));
  if (schema.properties.spec) walk(schema.properties.spec, '', fields, rules);
  kinds[kind] = { scope: crd.spec.scope, fields, rules };
}
process.stdout.write(`${JSON.stringify({ source: `projectcalico/calico ${ref} api/config/crd`, kinds }, null, 1)}\n`);
