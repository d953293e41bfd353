/** The format folder's public surface: what other folders of src/ may import. */

// Re-exported for the other folders of src/ (they enter this folder only through this file).
export { formatTable } from './table.ts';
