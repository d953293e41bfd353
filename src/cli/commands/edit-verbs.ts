/**
 * Verbs that change one named resource: `delete KIND NAME…`, `patch KIND NAME -p`, and
 * `label KIND NAME key=value | key --remove`. Edits are re-validated and written with
 * compare-and-swap on the revision they were read at.
 */
import type { Command } from 'commander';
import { parse } from 'yaml';
import type { KindDefinition } from '../../api/mod.ts';
import type { Resource } from '../../api/mod.ts';
import { validateResource } from '../../api/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import type { CliContext } from '../context.ts';
import { kindArgument } from './read-verbs.ts';
import { runFileVerb, summarize, withFileOptions } from './write-verbs.ts';

/** RFC 7386 JSON merge patch: objects merge, null deletes, anything else replaces. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const base = typeof target === 'object' && target !== null && !Array.isArray(target) ? { ...(target as Record<string, unknown>) } : {};
  for (const [key, value] of Object.entries(patch as Record<string, unknown>)) {
    if (value === null) delete base[key];
    else base[key] = mergePatch(base[key], value);
  }
  return base;
}

async function readExisting(ctx: CliContext, def: KindDefinition, name: string, namespace: string | undefined): Promise<Resource> {
  const store = await ctx.store();
  const ns = def.namespaced ? namespace ?? 'default' : undefined;
  const res = await store.get(def, name, ns);
  if (!res) throw new MargayError('MARGAY_ERR_NOT_FOUND', `resource does not exist: ${def.kind}(${ns ? `${ns}/` : ''}${name})`);
  return res;
}

/** Validates an edited copy and writes it back only if nobody changed it meanwhile. */
async function writeEdited(ctx: CliContext, edited: unknown, resourceVersion: string | undefined): Promise<Resource> {
  const store = await ctx.store();
  const valid = validateResource(edited);
  valid.metadata.resourceVersion = resourceVersion;
  return (await store.replace(valid)).resource;
}

function parsePatch(text: string): unknown {
  try {
    return parse(text);
  } catch (err) {
    throw new MargayError('MARGAY_ERR_DECODE', `--patch is not valid JSON or YAML: ${(err as Error).message.split('\n')[0]}`);
  }
}

/** Registers delete, patch and label. */
export function registerEditVerbs(program: Command, ctx: CliContext): void {
  withFileOptions(program.command('delete').description('Delete resources by kind and name, or those named in manifests'), false)
    .argument('[kind]', 'a kind, its plural or an alias')
    .argument('[names...]', 'names of resources of that kind')
    .option('--skip-not-exists', 'skip resources that do not exist instead of failing', false)
    .action(async (kind: string | undefined, names: string[], opts) => {
      if (opts.filename) return runFileVerb(ctx, 'delete', opts);
      if (!kind || names.length === 0) throw new MargayError('MARGAY_ERR_USAGE', 'give a kind and names, or -f, e.g. `margay delete ippool pool1`');
      const def = kindArgument(kind);
      const store = await ctx.store();
      const ns = def.namespaced ? opts.namespace ?? 'default' : undefined;
      const targets: Resource[] = names.map((name) => ({ apiVersion: 'projectcalico.org/v3', kind: def.kind, metadata: { name, ...(ns ? { namespace: ns } : {}) } }));
      const results = await store.batch('delete', targets, { skipNotExists: opts.skipNotExists });
      ctx.stdout(summarize('delete', results));
    });

  program
    .command('patch')
    .description('Apply a JSON merge patch to one resource')
    .argument('<kind>', 'a kind, its plural or an alias')
    .argument('<name>', 'the resource name')
    .requiredOption('-p, --patch <patch>', 'the patch, as JSON or YAML, e.g. \'{"spec":{"disabled":true}}\'')
    .option('-n, --namespace <namespace>', 'namespace of a namespaced kind (default: default)')
    .action(async (kind: string, name: string, opts: { patch: string; namespace?: string }) => {
      const def = kindArgument(kind);
      const patch = parsePatch(opts.patch);
      if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
        throw new MargayError('MARGAY_ERR_USAGE', '--patch must be an object, e.g. \'{"spec":{"disabled":true}}\'');
      }
      const current = await readExisting(ctx, def, name, opts.namespace);
      const edited = mergePatch(current, patch) as Resource;
      await writeEdited(ctx, edited, current.metadata.resourceVersion);
      ctx.stdout(`Successfully patched 1 '${def.kind}' resource\n`);
    });

  program
    .command('label')
    .description('Add, change or remove a label of one resource')
    .argument('<kind>', 'a kind, its plural or an alias')
    .argument('<name>', 'the resource name')
    .argument('<label>', 'key=value to set, or key with --remove')
    .option('--overwrite', 'replace the value of an existing label', false)
    .option('--remove', 'remove the label', false)
    .option('-n, --namespace <namespace>', 'namespace of a namespaced kind (default: default)')
    .action(async (kind: string, name: string, label: string, opts: { overwrite: boolean; remove: boolean; namespace?: string }) => {
      const def = kindArgument(kind);
      const current = await readExisting(ctx, def, name, opts.namespace);
      const labels = { ...(current.metadata.labels ?? {}) };
      if (opts.remove) {
        if (label.includes('=')) throw new MargayError('MARGAY_ERR_USAGE', 'with --remove give only the key, e.g. `margay label ippool pool1 env --remove`');
        if (!(label in labels)) throw new MargayError('MARGAY_ERR_NOT_FOUND', `${def.kind} "${name}" has no label "${label}"`);
        delete labels[label];
      } else {
        const eq = label.indexOf('=');
        if (eq <= 0) throw new MargayError('MARGAY_ERR_USAGE', `label "${label}" must be key=value (or key with --remove)`);
        const key = label.slice(0, eq);
        if (key in labels && labels[key] !== label.slice(eq + 1) && !opts.overwrite) {
          throw new MargayError('MARGAY_ERR_ALREADY_EXISTS', `${def.kind} "${name}" already has label ${key}=${labels[key]}; use --overwrite to change it`);
        }
        labels[key] = label.slice(eq + 1);
      }
      await writeEdited(ctx, { ...current, metadata: { ...current.metadata, labels } }, current.metadata.resourceVersion);
      ctx.stdout(`Successfully ${opts.remove ? 'removed label from' : 'set label on'} ${def.kind} "${name}"\n`);
    });
}
