import type { z } from 'zod';
import type { FieldIssue, Resource } from './resource.ts';

/** A column of the `get -o ps|wide` table: a header and how to read the cell from a resource. */
export interface Column {
  header: string;
  value: (res: Resource) => string;
}

/** A resource that another one needs in order to be stored (a policy needs its tier). */
export interface ResourceReference {
  /** The kind needed, as written in manifests (`Tier`). */
  kind: string;
  name: string;
  namespace?: string;
  /** The field of the referring resource that names it (`spec.tier`). */
  path: string;
}

/**
 * Everything Margay knows about one resource kind. Each kind lives in its own file under
 * `src/api/kinds/` and is listed in `src/api/kinds/mod.ts`.
 */
export interface KindDefinition {
  /** The kind as written in manifests: `NetworkPolicy`. */
  kind: string;
  /** The lower-case plural used in etcd keys: `networkpolicies`. */
  plural: string;
  /** True when the resource lives in a namespace. */
  namespaced: boolean;
  /** Lower-case names accepted on the command line besides kind and plural (`ipp`, `pools`). */
  aliases: string[];
  /** A strict zod schema of `spec` (unknown keys are errors). */
  specSchema: z.ZodType;
  /**
   * A quicker parse of common specs: exactly what `specSchema` returns for the specs it takes
   * (after key-case matching), undefined for all others (the schema then decides and reports).
   */
  quickSpec?: (spec: unknown) => Record<string, unknown> | undefined;
  /** A strict zod schema of `status`, when the kind has one that may be stored. */
  statusSchema?: z.ZodType;
  /** Checks the name; returns a message when it is not allowed. */
  checkName: (name: string) => string | undefined;
  /**
   * Cross-field rules the schema cannot express. Receives a resource whose spec already passed
   * the schema; returns issues whose `path` starts at the resource root (`spec.…`, `metadata.…`).
   */
  validate?: (res: Resource) => FieldIssue[];
  /**
   * Things that are stored but have no effect, for the operator to know (`http` matches, which
   * only an application-layer proxy could enforce). Paths start at the resource root.
   */
  warnings?: (res: Resource) => FieldIssue[];
  /** Calico's defaults, filled into a resource that passed validation. Pure: returns a new object. */
  applyDefaults?: (res: Resource) => Resource;
  /** Dotted spec paths that may not change on update (`spec.cidr`). */
  immutableFields?: string[];
  /**
   * Rules that need the other resources of the same kind (IP pool overlap). `others` never
   * contains `res` itself.
   */
  validateAgainst?: (res: Resource, others: Resource[]) => FieldIssue[];
  /** Resources this one needs to exist (in the store or the same batch) before it can be stored. */
  references?: (res: Resource) => ResourceReference[];
  /** Resources of this kind that exist implicitly (the built-in tiers): created when first referenced. */
  builtins?: () => Resource[];
  /**
   * Columns of `get -o ps`; `-o wide` shows these then `wideColumns` (a header in both is shown
   * once). NAME (and NAMESPACE) come first automatically.
   */
  columns: Column[];
  wideColumns: Column[];
}
