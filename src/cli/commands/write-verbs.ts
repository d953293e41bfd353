/**
 * `create`, `apply`, `replace` and `delete -f`: read every input, validate all of it, then write
 * it all or nothing, and print one summary line per kind as calicoctl does.
 */
import type { Command } from 'commander';
import type { DecodedResource } from '../../api/mod.ts';
import { findKind } from '../../api/mod.ts';
import { checkBatchCount } from '../../api/mod.ts';
import { quote, safeLine } from '../../errors/mod.ts';
import type { Resource } from '../../api/mod.ts';
import type { BatchVerb, WriteResult } from '../../datastore/mod.ts';
import type { CliContext } from '../context.ts';
import { readResources } from '../input.ts';

const PAST_TENSE: Record<BatchVerb, string> = {
  create: 'created',
  apply: 'applied',
  replace: 'replaced',
  delete: 'deleted',
};

/** "Successfully applied 2 'IPPool' resource(s)" lines, one per kind in order of appearance. */
export function summarize(verb: BatchVerb, results: WriteResult[]): string {
  const counts = new Map<string, number>();
  for (const r of results) if (!r.implicit && r.outcome !== 'skipped') counts.set(r.resource.kind, (counts.get(r.resource.kind) ?? 0) + 1);
  const lines = [...counts].map(([kind, n]) => `Successfully ${PAST_TENSE[verb]} ${n} '${kind}' resource(s)`);
  const skipped = results.filter((r) => r.outcome === 'skipped').length;
  if (skipped > 0) lines.push(`Skipped ${skipped} resource(s) (${verb === 'delete' ? 'not found' : 'already exist'})`);
  for (const r of results.filter((x) => x.implicit)) lines.push(`Created the built-in ${r.resource.kind} "${r.resource.metadata.name}"`);
  return lines.join('\n') + '\n';
}

/** Tells the operator about fields that are stored but have no effect (e.g. `http` matches). */
export function printWarnings(ctx: CliContext, decoded: DecodedResource[]): void {
  for (const { resource, source } of decoded) {
    for (const w of findKind(resource.kind)?.warnings?.(resource) ?? []) {
      const line = source.line === undefined ? '' : `, line ${source.line}`;
      ctx.stderr(`${safeLine(`Warning: ${source.file}: document ${source.document + 1}${line} (${resource.kind} ${quote(resource.metadata.name)}): ${w.path}: ${w.message}`)}\n`);
    }
  }
}

/** Reads `-f` inputs and runs one batch verb over them. */
export async function runFileVerb(
  ctx: CliContext,
  verb: BatchVerb,
  options: { filename: string[]; recursive?: boolean; namespace?: string; skipExists?: boolean; skipNotExists?: boolean },
): Promise<void> {
  const decoded = readResources(options.filename, { recursive: options.recursive ?? false, namespace: options.namespace });
  const resources: Resource[] = decoded.map((d) => d.resource);
  if (resources.length === 0) {
    ctx.stderr('No resources specified in the input\n');
    return;
  }
  checkBatchCount(resources.length);
  if (verb !== 'delete') printWarnings(ctx, decoded);
  const store = await ctx.store();
  const results = await store.batch(verb, resources, {
    skipExists: options.skipExists,
    skipNotExists: options.skipNotExists,
    sources: decoded.map((d) => d.source),
  });
  ctx.stdout(summarize(verb, results));
}

/** Adds -f, -R and -n to a command. */
export function withFileOptions(cmd: Command, required: boolean): Command {
  const fileHelp = 'a manifest file, a directory, or - for standard input (repeatable)';
  const collect = (value: string, previous: string[] = []) => [...previous, value];
  if (required) cmd.requiredOption('-f, --filename <file>', fileHelp, collect);
  else cmd.option('-f, --filename <file>', fileHelp, collect);
  return cmd
    .option('-R, --recursive', 'read directories recursively', false)
    .option('-n, --namespace <namespace>', 'the namespace of namespaced resources that name none');
}

/** Registers create, apply and replace. */
export function registerWriteVerbs(program: Command, ctx: CliContext): void {
  withFileOptions(program.command('create').description('Create resources from manifests; fails if any already exists'), true)
    .option('--skip-exists', 'skip resources that already exist instead of failing', false)
    .action((opts) => runFileVerb(ctx, 'create', opts));
  withFileOptions(program.command('apply').description('Create or update resources from manifests'), true)
    .action((opts) => runFileVerb(ctx, 'apply', opts));
  withFileOptions(program.command('replace').description('Replace existing resources from manifests'), true)
    .action((opts) => runFileVerb(ctx, 'replace', opts));
}
