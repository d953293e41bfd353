/** The apiVersion of every Calico-compatible resource Margay stores. */
export const API_VERSION = 'projectcalico.org/v3';

/** Object metadata, as Kubernetes and calicoctl lay it out. */
export interface ObjectMeta {
  name: string;
  namespace?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  /** The datastore revision this copy was read at (a decimal string). */
  resourceVersion?: string;
  uid?: string;
  creationTimestamp?: string;
  generation?: number;
}

/**
 * A resource of any kind, as decoded from a manifest or read from the datastore. `spec` is
 * checked against the kind's schema before it is stored; `status` is never written by apply.
 */
export interface Resource<Spec = Record<string, unknown>> {
  apiVersion: string;
  kind: string;
  metadata: ObjectMeta;
  spec?: Spec;
  status?: Record<string, unknown>;
}

/** Where a resource came from, so that errors can name the file and the document. */
export interface SourceRef {
  /** A file path, or `-` for standard input, or a short description such as `datastore`. */
  file: string;
  /** Zero-based index of the document in the file (YAML documents and List items both count). */
  document: number;
  /** One-based line where the document starts, when known. */
  line?: number;
}

/** One problem found in a resource, with the dotted field path that has it (`spec.ingress[0].action`). */
export interface FieldIssue {
  path: string;
  message: string;
}
