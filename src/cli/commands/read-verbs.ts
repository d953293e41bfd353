/** `get`: list or read resources and print them as a table, YAML or JSON. */
import { Option, type Command } from 'commander';
import type { KindDefinition } from '../../api/mod.ts';
import { findKind } from '../../api/mod.ts';
import type { Resource } from '../../api/mod.ts';
import { MargayError } from '../../errors/mod.ts';
import type { CliContext } from '../context.ts';
import { readResources } from '../input.ts';
import { OUTPUT_FORMATS, type OutputFormat, renderResources } from '../output.ts';

/** Resolves a kind named on the command line, or fails naming what is allowed. */
export function kindArgument(name: string): KindDefinition {
  const def = findKind(name);
  if (!def) {
    throw new MargayError('MARGAY_ERR_USAGE', `resource type "${name}" is not supported (see \`margay get --help\` for the kinds)`);
  }
  return def;
}

interface GetOptions {
  output: OutputFormat;
  namespace?: string;
  allNamespaces?: boolean;
  filename?: string[];
  recursive?: boolean;
}

function describeMissing(def: KindDefinition, name: string, namespace: string | undefined): string {
  return `resource does not exist: ${def.kind}(${def.namespaced ? `${namespace}/` : ''}${name})`;
}

async function getByFile(ctx: CliContext, opts: GetOptions): Promise<void> {
  const store = await ctx.store();
  const wanted = readResources(opts.filename!, { recursive: opts.recursive ?? false, namespace: opts.namespace });
  const found: Resource[] = [];
  for (const { resource } of wanted) {
    const def = kindArgument(resource.kind);
    const res = await store.get(def, resource.metadata.name, resource.metadata.namespace);
    if (!res) throw new MargayError('MARGAY_ERR_NOT_FOUND', describeMissing(def, resource.metadata.name, resource.metadata.namespace));
    found.push(res);
  }
  const kinds = new Set(found.map((r) => r.kind));
  const def = kinds.size === 1 ? kindArgument([...kinds][0]!) : undefined;
  ctx.stdout(renderResources(def, found, { format: opts.output, single: found.length === 1, showNamespace: def?.namespaced ?? false }));
}

async function getByKind(ctx: CliContext, kind: string, names: string[], opts: GetOptions): Promise<void> {
  const def = kindArgument(kind);
  const store = await ctx.store();
  const namespace = def.namespaced ? (opts.allNamespaces ? undefined : opts.namespace ?? 'default') : undefined;
  if (names.length > 0) {
    if (def.namespaced && opts.allNamespaces) {
      throw new MargayError('MARGAY_ERR_USAGE', 'a resource name cannot be combined with --all-namespaces');
    }
    const found: Resource[] = [];
    for (const name of names) {
      const res = await store.get(def, name, namespace);
      if (!res) throw new MargayError('MARGAY_ERR_NOT_FOUND', describeMissing(def, name, namespace));
      found.push(res);
    }
    ctx.stdout(renderResources(def, found, { format: opts.output, single: names.length === 1, showNamespace: def.namespaced }));
    return;
  }
  const { items, revision } = await store.list(def, namespace);
  ctx.stdout(renderResources(def, items, { format: opts.output, revision, single: false, showNamespace: def.namespaced }));
}

/** Registers `get`. */
export function registerGet(program: Command, ctx: CliContext): void {
  program
    .command('get')
    .description('Print resources: all of a kind, some by name, or those named in manifests')
    .argument('[kind]', 'a kind, its plural or an alias (ippool, ippools, ipp …)')
    .argument('[names...]', 'names of resources of that kind')
    .addOption(new Option('-o, --output <format>', 'output format').choices(OUTPUT_FORMATS).default('ps'))
    .option('-n, --namespace <namespace>', 'namespace of namespaced kinds (default: default)')
    .option('-A, --all-namespaces', 'every namespace', false)
    .option('-f, --filename <file>', 'print the resources these manifests name', (v: string, p: string[] = []) => [...p, v])
    .option('-R, --recursive', 'read directories recursively', false)
    .action(async (kind: string | undefined, names: string[], opts: GetOptions) => {
      if (opts.filename) return getByFile(ctx, opts);
      if (!kind) throw new MargayError('MARGAY_ERR_USAGE', 'a kind or -f is required, e.g. `margay get ippools`');
      return getByKind(ctx, kind, names, opts);
    });
}
