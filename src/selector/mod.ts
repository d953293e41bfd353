/**
 * Calico-compatible label selectors: parsing, matching, canonical text, stable ids, and the
 * incremental label index that keeps "which items does each selector match" up to date.
 *
 * ```ts
 * const sel = parseSelector(`app == "web" && tier in {"fe", "be"}`);
 * sel.matches({ app: 'web', tier: 'fe' }); // true
 * sel.toString();                          // '(app == "web" && tier in {"be", "fe"})'
 * sel.id;                                  // 's:...' (Calico's UniqueID, names the IP set)
 * ```
 */
export { parseSelector } from './selector.ts';
export type { Selector } from './selector.ts';
export { SelectorParseError } from './errors.ts';
export { selectorId } from './id.ts';
export { canonicalString } from './canonical.ts';
export { LabelIndex } from './label-index.ts';
export { addToSetMap, deleteFromSetMap } from './label-map.ts';
export type { LabelIndexGroupCallbacks, LabelIndexOptions, MatchCallback, SelectorGroup } from './label-index.ts';
export type { Labels } from './evaluate.ts';
export type {
  AllNode,
  AndNode,
  GlobalNode,
  HasNode,
  NotNode,
  OrNode,
  SelectorNode,
  SetNode,
  SetOperator,
  ValueNode,
  ValueOperator,
} from './ast.ts';
export { hashText } from './interner.ts';
