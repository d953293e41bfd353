/** The agent folder's public surface: what other folders of src/ may import. */

// Re-exported for the other folders of src/ (they enter this folder only through this file).
export { loadLocalConfig } from './config.ts';
export { NodeProcess } from './node.ts';
export { warmUp, type WarmUpReport } from './warm-up.ts';
