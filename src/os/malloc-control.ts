/**
 * glibc's malloc settings for the resident agent, through the `margay-malloc.node` addon
 * (native/malloc-control.c, built by scripts/install-deps.sh into dist/native/).
 *
 * glibc raises its mmap and trim thresholds after a large block is freed (up to 32 and 64 MiB),
 * so a burst of large temporary buffers leaves the freed top of every arena resident: with
 * 50,000 remote endpoints ~15 MiB in the arenas for ~4 MiB in use (docs/agent.md, "Latency and
 * memory at scale"). Fixed thresholds give freed memory back as it is freed; `trim` gives back the
 * free pages inside the arenas too (after the heap trim's compaction). Without the addon (not
 * built, or not glibc) nothing changes but the memory.
 */
import { findPackageFile } from './package-file.ts';

/** The addon's file name under dist/native/. */
export const MALLOC_ADDON = 'margay-malloc.node';

/** The addon's functions (each false when the C library does not have it). */
export interface MallocControl {
  /** Fixes malloc's trim and mmap thresholds (bytes, 1 to 2^30), ending glibc's dynamic raise. */
  setThresholds(trimBytes: number, mmapBytes: number): boolean;
  /** `malloc_trim(0)`: every arena's free pages back to the system. */
  trim(): boolean;
}

/** glibc's own initial thresholds: what the agent keeps for good (see the module comment). */
export const MALLOC_THRESHOLD_BYTES = 128 * 1024;

/**
 * Loads the addon at `path` (default `$MARGAY_MALLOC_ADDON`, else dist/native/ of this package;
 * an empty path turns it off: nothing loaded, no error). No `control` when it is not built or does
 * not load: then `error` says why, for the log (never thrown: the agent runs without it).
 */
export function loadMallocControl(path: string | undefined = defaultPath()): { control?: MallocControl; error?: string } {
  if (path === '') return {}; // turned off
  if (path === undefined) return { error: `dist/native/${MALLOC_ADDON} not built (scripts/install-deps.sh builds it from Node's headers)` };
  try {
    const module = { exports: {} as Partial<MallocControl> };
    process.dlopen(module, path);
    const { setThresholds, trim } = module.exports;
    if (typeof setThresholds !== 'function' || typeof trim !== 'function') return { error: `${path}: not the malloc control addon (no setThresholds/trim)` };
    return { control: { setThresholds, trim } };
  } catch (err) {
    return { error: `${path}: ${(err as Error).message}` };
  }
}

function defaultPath(): string | undefined {
  const fromEnv = process.env.MARGAY_MALLOC_ADDON;
  if (fromEnv !== undefined) return fromEnv;
  return findPackageFile(`dist/native/${MALLOC_ADDON}`);
}
