#!/usr/bin/env node
/**
 * Reads Calico's projectcalico.org/v3 CRD schemas (and, for Node, WorkloadEndpoint and Profile, which
 * have no CRD, their Go types) from a checkout of projectcalico/calico and
 * writes the field facts Margay's parity test checks against: for each kind, every field path of
 * `spec` with its type, enum, default, pattern and bounds, and the messages of the CEL rules
 * (x-kubernetes-validations) with where they sit. Descriptions are left out on purpose
 * (only the facts a validator needs are kept).
 *
 *   node scripts/extract-crd-fields.mjs CALICO_GIT_DIR REF > test/api/fixtures/calico-v3.32-crd-fields.json
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
/**
 * The kinds that have no CRD (they live in Kubernetes objects in Calico): their spec field paths
 * from the Go types, by following the json tags from the spec struct through the structs of the
 * same files. Types: string, integer, boolean, number, array, object, int-or-string.
 */
const GO_KINDS = {
  Node: { root: 'NodeSpec', files: ['libcalico-go/lib/apis/internalapi/node.go'] },
  WorkloadEndpoint: { root: 'WorkloadEndpointSpec', files: ['libcalico-go/lib/apis/internalapi/workloadendpoint.go'] },
  Profile: { root: 'ProfileSpec', files: ['api/pkg/apis/projectcalico/v3/profile.go', 'api/pkg/apis/projectcalico/v3/policy_common.go'] },
};
const GO_SCALARS = { string: 'string', bool: 'boolean', int: 'integer', int32: 'integer', int64: 'integer', uint8: 'integer', uint16: 'integer', uint32: 'integer', float64: 'number' };
const INT_OR_STRING = new Set(['Protocol', 'Port', 'DSCP', 'ASNumber', 'Uint8OrString']);

function goStructs(text) {
  const structs = {};
  for (const m of text.matchAll(/^type (\w+) struct \{\n([\s\S]*?)^\}/gm)) {
    structs[m[1]] = [...m[2].matchAll(/^\s+\w+\s+([\w.*\[\]]+)\s+`json:"([^",]*)/gm)].map((f) => ({ type: f[1], name: f[2] }));
  }
  return structs;
}

function walkGo(structs, name, path, out) {
  for (const f of structs[name] ?? []) {
    if (f.name === '' || f.name === '-') continue;
    const p = path ? `${path}.${f.name}` : f.name;
    let t = f.type.replace(/^\*/, '');
    const list = t.startsWith('[]');
    t = t.replace(/^\[\]\*?/, '').replace(/^\w+\./, '');
    const leaf = structs[t] || t.startsWith('map[') ? 'object' : INT_OR_STRING.has(t) ? 'int-or-string' : GO_SCALARS[t] ?? 'string';
    out[p] = { type: list ? 'array' : leaf };
    if (list) out[`${p}[]`] = { type: leaf };
    if (structs[t]) walkGo(structs, t, list ? `${p}[]` : p, out);
  }
}

for (const [kind, { root, files }] of Object.entries(GO_KINDS)) {
  const structs = Object.assign({}, ...files.map((f) => goStructs(git('show', `${ref}:${f}`))));
  const fields = {};
  walkGo(structs, root, '', fields);
  kinds[kind] = { scope: 'Go types', fields, rules: [] };
}
process.stdout.write(`${JSON.stringify({ source: `projectcalico/calico ${ref} api/config/crd (Node, WorkloadEndpoint, Profile: their Go types)`, kinds }, null, 1)}\n`);
