/**
 * The registry of Margay's stable error codes. Every error that crosses a process boundary
 * (CLI exit messages, the agent's API, logs) carries one of these codes. Codes never change
 * meaning once published; add new ones at the end of their group. Documented in docs/errors.md.
 */
export const ErrorCodes = {
  // Input: manifests, selectors, flags.
  MARGAY_ERR_DECODE: 'the input is not valid YAML or JSON',
  MARGAY_ERR_VALIDATION: 'a resource failed validation',
  MARGAY_ERR_UNKNOWN_KIND: 'the kind or apiVersion is not one Margay knows',
  MARGAY_ERR_SELECTOR_PARSE: 'a selector expression could not be parsed',
  MARGAY_ERR_IMMUTABLE_FIELD: 'an update tried to change a field that cannot change',
  MARGAY_ERR_USAGE: 'the command line is not valid',
  MARGAY_ERR_CONFIG: 'a client or agent configuration is not valid',
  MARGAY_ERR_TOO_LARGE: 'the input is over a documented limit (writes in one batch, bytes of a resource or a batch, nesting depth, input size)',
  // Datastore outcomes.
  MARGAY_ERR_NOT_FOUND: 'the resource or key does not exist',
  MARGAY_ERR_ALREADY_EXISTS: 'the resource or key already exists',
  MARGAY_ERR_CONFLICT: 'the revision does not match: someone else changed it first',
  MARGAY_ERR_DATASTORE_UNAVAILABLE: 'the datastore cannot be reached',
  MARGAY_ERR_COMPACTED: 'the requested revision has been compacted away',
  MARGAY_ERR_LEASE: 'the lease expired or does not exist',
  MARGAY_ERR_DATASTORE_REJECTED: 'the datastore refused the request as not valid or not permitted',
  MARGAY_ERR_BATCH_INCOMPLETE: 'a batch larger than one transaction failed and could not be fully undone; the message names the keys left',
  // IP address management.
  MARGAY_ERR_POOL_EXHAUSTED: 'no free address is left in the IP pools the request may use',
  MARGAY_ERR_ADDRESS_IN_USE: 'the address is already assigned to another handle',
  MARGAY_ERR_ADDRESS_RESERVED: 'the address is reserved by an IPReservation',
  MARGAY_ERR_NO_POOL: 'no enabled IP pool fits the request (address outside every pool, pool disabled, or not for this node or use)',
  MARGAY_ERR_STRICT_AFFINITY: "the address's block belongs to another host and strictAffinity forbids borrowing it",
  MARGAY_ERR_IPAM_INCONSISTENT: 'the IPAM records disagree with each other or with the workload endpoints (margay ipam check)',
  // Programs and processes Margay runs, and the lab.
  MARGAY_ERR_COMMAND_FAILED: 'a program Margay runs (ip, nft, sysctl, BIRD, etcd, FRR, a command given to lab exec) could not start, failed or timed out',
  MARGAY_ERR_NOT_INSTALLED: 'a program or file Margay needs is not installed or not built (scripts/install-deps.sh installs it)',
  MARGAY_ERR_NOT_READY: "a process Margay started (an agent, etcd, BIRD, a lab pod's server) exited or did not become ready in time",
  MARGAY_ERR_LAB_STATE: "the lab's state file cannot be read (margay lab down removes it and whatever it names)",
  MARGAY_ERR_LAB_NO_FREE_RANGE: 'every address range the lab may use overlaps an address or route of this machine',
  MARGAY_ERR_PROBE_FAILED: 'a lab probe did not connect, or lab connectivity disagrees with policy',
  // Kubernetes API.
  MARGAY_ERR_KUBE_UNAVAILABLE: 'the Kubernetes API server cannot be reached',
  MARGAY_ERR_KUBE_API: 'the Kubernetes API server answered with an error',
} as const;

/** One of Margay's stable error codes. */
export type ErrorCode = keyof typeof ErrorCodes;
