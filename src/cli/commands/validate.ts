/**
 * `validate -f`: check manifests without touching the datastore (schema, cross-field rules,
 * and cross-resource rules such as pool overlap within the given files).
 */
import type { Command } from 'commander';
import { findKind } from '../../api/mod.ts';
import { checkBatchCount } from '../../api/mod.ts';
import { ResourceValidationError } from '../../api/mod.ts';
import type { CliContext } from '../context.ts';
import { readResources } from '../input.ts';
import { printWarnings, withFileOptions } from './write-verbs.ts';

/** Registers `validate`. */
export function registerValidate(program: Command, ctx: CliContext): void {
  withFileOptions(program.command('validate').description('Check manifests without writing anything'), true).action(
    (opts: { filename: string[]; recursive: boolean; namespace?: string }) => {
      const decoded = readResources(opts.filename, { recursive: opts.recursive, namespace: opts.namespace });
      checkBatchCount(decoded.length);
      for (const { resource, source } of decoded) {
        const def = findKind(resource.kind)!;
        if (!def.validateAgainst) continue;
        const others = decoded.map((d) => d.resource).filter((r) => r !== resource && r.kind === resource.kind);
        const issues = def.validateAgainst(resource, others);
        if (issues.length > 0) throw new ResourceValidationError(issues, { source, kind: resource.kind, name: resource.metadata.name });
      }
      printWarnings(ctx, decoded);
      ctx.stdout(`Successfully validated ${decoded.length} resource(s)\n`);
    },
  );
}
