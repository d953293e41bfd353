/** Bounded memos shared by the hot paths of the calculation and the render (clearing-memo.ts). */
export { ClearingMemo, ClearingMemo2 } from './clearing-memo.ts';
