/**
 * The parts of the CNI specification (1.1.0) that every other file of the CNI service uses: the
 * versions Margay speaks, the error codes, and the error object a plugin prints.
 */
import { elide, MargayError, MESSAGE_MAX, type ErrorCode } from '../errors/mod.ts';

/** The CNI specification version Margay implements. */
export const CNI_SPEC_VERSION = '1.1.0';

/**
 * The configuration versions Margay accepts (`cniVersion`). Results are shaped for the version
 * of the request. The thin client (native/cni-client.c) answers VERSION with the same list.
 */
export const SUPPORTED_VERSIONS = ['0.3.1', '0.4.0', '1.0.0', '1.1.0'] as const;

/** A supported configuration version. */
export type CniVersion = (typeof SUPPORTED_VERSIONS)[number];

/** True when `v` is a configuration version Margay accepts. */
export function isSupportedVersion(v: unknown): v is CniVersion {
  return typeof v === 'string' && (SUPPORTED_VERSIONS as readonly string[]).includes(v);
}

/** Compares two dotted versions numerically (`0.4.0` < `1.0.0`). */
export function compareVersions(a: string, b: string): number {
  const pa = a.split('.').map(Number);
  const pb = b.split('.').map(Number);
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0);
    if (d !== 0) return d < 0 ? -1 : 1;
  }
  return 0;
}

/**
 * CNI error codes: 1–99 are the specification's, 100 and up are Margay's own
 * (documented in docs/cni.md).
 */
export const CniCode = {
  /** The configuration's cniVersion is not one Margay speaks. */
  INCOMPATIBLE_VERSION: 1,
  /** A field of the configuration has a value Margay does not support. */
  UNSUPPORTED_FIELD: 2,
  /** The container (its network namespace or attachment) does not exist. */
  UNKNOWN_CONTAINER: 3,
  /** A required CNI_* variable is missing or malformed. */
  INVALID_ENVIRONMENT: 4,
  /** Reading or changing the kernel's state failed. */
  IO_FAILURE: 5,
  /** The input could not be decoded (not JSON, not an object). */
  DECODE_FAILURE: 6,
  /** The network configuration is not valid. */
  INVALID_NETWORK_CONFIG: 7,
  /** A transient condition: the agent or the datastore is unreachable, or busy. */
  TRY_AGAIN_LATER: 11,
  /** STATUS: the plugin cannot serve ADD now. */
  NOT_AVAILABLE: 50,
  /** STATUS: not available, and existing containers may have limited connectivity. */
  NOT_AVAILABLE_LIMITED: 51,
  /** CHECK: the attachment is not as ADD left it. */
  CHECK_FAILED: 100,
  /** No address can be assigned (pools exhausted, no pool for this node or namespace). */
  NO_ADDRESS: 101,
  /** The Kubernetes API server refused a request about the pod (permissions, invalid request). */
  KUBERNETES_API: 102,
  /** An unexpected failure inside the agent. */
  INTERNAL: 999,
} as const;

/** The JSON a plugin prints on failure. */
export interface CniErrorObject {
  cniVersion: string;
  code: number;
  msg: string;
  details?: string;
}

/** A failure to report to the runtime as a CNI error object. */
export class CniError extends Error {
  readonly code: number;
  readonly details: string | undefined;

  constructor(code: number, msg: string, details?: string, options?: ErrorOptions) {
    super(msg, options);
    this.name = 'CniError';
    this.code = code;
    this.details = details;
  }

  /** The error object for a request of version `cniVersion`. */
  toObject(cniVersion: string): CniErrorObject {
    const obj: CniErrorObject = { cniVersion, code: this.code, msg: elide(this.message, MESSAGE_MAX) };
    if (this.details) obj.details = elide(this.details, MESSAGE_MAX);
    return obj;
  }
}

const MARGAY_TO_CNI: Partial<Record<ErrorCode, number>> = {
  MARGAY_ERR_DATASTORE_UNAVAILABLE: CniCode.TRY_AGAIN_LATER,
  MARGAY_ERR_CONFLICT: CniCode.TRY_AGAIN_LATER,
  MARGAY_ERR_LEASE: CniCode.TRY_AGAIN_LATER,
  MARGAY_ERR_COMPACTED: CniCode.TRY_AGAIN_LATER,
  MARGAY_ERR_POOL_EXHAUSTED: CniCode.NO_ADDRESS,
  MARGAY_ERR_NO_POOL: CniCode.NO_ADDRESS,
  MARGAY_ERR_STRICT_AFFINITY: CniCode.NO_ADDRESS,
  MARGAY_ERR_ADDRESS_IN_USE: CniCode.NO_ADDRESS,
  MARGAY_ERR_ADDRESS_RESERVED: CniCode.NO_ADDRESS,
  MARGAY_ERR_VALIDATION: CniCode.INVALID_NETWORK_CONFIG,
  MARGAY_ERR_CONFIG: CniCode.INVALID_NETWORK_CONFIG,
  MARGAY_ERR_DECODE: CniCode.DECODE_FAILURE,
  MARGAY_ERR_COMMAND_FAILED: CniCode.IO_FAILURE,
  MARGAY_ERR_NOT_INSTALLED: CniCode.IO_FAILURE,
  MARGAY_ERR_NOT_READY: CniCode.TRY_AGAIN_LATER,
  MARGAY_ERR_KUBE_UNAVAILABLE: CniCode.TRY_AGAIN_LATER,
  MARGAY_ERR_KUBE_API: CniCode.KUBERNETES_API,
};

/** Any error as a CniError: MargayErrors by their code (a failed command as I/O), plumbing failures as I/O, the rest internal. */
export function toCniError(err: unknown, context?: string): CniError {
  if (err instanceof CniError) return err;
  const prefix = context ? `${context}: ` : '';
  if (err instanceof MargayError) {
    const code = MARGAY_TO_CNI[err.code] ?? CniCode.INTERNAL;
    return new CniError(code, `${prefix}${err.message}`, err.code, { cause: err });
  }
  if (err instanceof Error && err.name === 'PlumbingError') {
    return new CniError(CniCode.IO_FAILURE, `${prefix}${err.message}`, undefined, { cause: err });
  }
  const message = err instanceof Error ? err.message : String(err);
  return new CniError(CniCode.INTERNAL, `${prefix}${message}`, undefined, { cause: err });
}
