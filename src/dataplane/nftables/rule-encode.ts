/**
 * nf_tables expressions (rule-parse.ts) encoded as netlink attributes (pure), laid out as nft
 * 1.0.6 (libnftnl) sends them: each expression a list element with its name and its data
 * attributes (include/uapi/linux/netfilter/nf_tables.h, NFTA_*), registers and 32-bit numbers in
 * network byte order, compared data as nested NFTA_DATA_VALUE.
 */
import { attr, nested, NFTA_DATA_VALUE, stringAttr, u32Attr, verdictAttr, writeText } from './netlink-attr.ts';
import type { CmpOp, Expr, MetaKey, PayloadBase } from './rule-parse.ts';
import { RULE_COMMENT_PREFIX } from './state.ts';

const NFTA_LIST_ELEM = 1;
const NFTA_EXPR_NAME = 1;
const NFTA_EXPR_DATA = 2;
const META_KEYS: Record<MetaKey, number> = { mark: 3, iifname: 6, oifname: 7, nfproto: 15, l4proto: 16 };
const PAYLOAD_BASES: Record<PayloadBase, number> = { network: 1, transport: 2 };
const CMP_OPS: Record<CmpOp, number> = { eq: 0, neq: 1, lt: 2, lte: 3, gt: 4, gte: 5 };
const NFT_CT_STATE = 0;
const NFT_LOOKUP_F_INV = 1;
const NFT_BITWISE_BOOL = 0;
/** NFTNL_UDATA_RULE_COMMENT: the type of a rule comment in the rule's user data. */
const UDATA_RULE_COMMENT = 0;
/** NFTNL_UDATA_COMMENT_MAXLEN: a comment's bytes with the terminating zero. */
const COMMENT_MAX = 128;

const value = (type: number, data: Buffer): Buffer => nested(type, [attr(NFTA_DATA_VALUE, data)]);

/** The name and data attributes of one expression, or undefined when it cannot be encoded. */
function exprAttrs(e: Expr): [string, Buffer[] | undefined] | undefined {
  switch (e.kind) {
    case 'meta':
      return ['meta', [u32Attr(2, META_KEYS[e.key]), u32Attr(1, e.dreg)]];
    case 'metaSet':
      return ['meta', [u32Attr(2, META_KEYS[e.key]), u32Attr(3, e.sreg)]];
    case 'payload':
      return ['payload', [u32Attr(1, e.dreg), u32Attr(2, PAYLOAD_BASES[e.base]), u32Attr(3, e.offset), u32Attr(4, e.len)]];
    case 'cmp':
      return ['cmp', [u32Attr(1, e.sreg), u32Attr(2, CMP_OPS[e.op]), value(3, e.data)]];
    case 'range':
      return ['range', [u32Attr(1, e.sreg), u32Attr(2, e.op === 'eq' ? 0 : 1), value(3, e.from), value(4, e.to)]];
    case 'bitwise':
      return [
        'bitwise',
        [u32Attr(1, e.sreg), u32Attr(2, e.dreg), ...(e.boolOp ? [u32Attr(6, NFT_BITWISE_BOOL)] : []), u32Attr(3, e.mask.length), value(4, e.mask), value(5, e.xor)],
      ];
    case 'lookup':
      return [
        'lookup',
        [
          u32Attr(2, e.sreg),
          stringAttr(1, e.set),
          u32Attr(4, e.setId ?? 0),
          ...(e.dreg !== undefined ? [u32Attr(3, e.dreg)] : []),
          ...(e.invert ? [u32Attr(5, NFT_LOOKUP_F_INV)] : []),
        ],
      ];
    case 'ct':
      return ['ct', [u32Attr(2, NFT_CT_STATE), u32Attr(1, e.dreg)]];
    case 'counter':
      return ['counter', []];
    case 'notrack':
      return ['notrack', undefined];
    case 'log':
      return ['log', [stringAttr(2, e.prefix)]];
    case 'masq':
      return ['masq', [u32Attr(1, e.flags)]];
    case 'verdict': {
      const verdict = verdictAttr(e.word, e.chain);
      return verdict ? ['immediate', [u32Attr(1, 0), nested(2, [verdict])]] : undefined;
    }
  }
}

/** The NFTA_RULE_EXPRESSIONS payload (list elements) of `exprs`, or undefined when some cannot be encoded. */
export function encodeExpressions(exprs: readonly Expr[]): Buffer[] | undefined {
  const out: Buffer[] = [];
  for (const e of exprs) {
    const a = exprAttrs(e);
    if (!a) return undefined;
    const [name, data] = a;
    out.push(nested(NFTA_LIST_ELEM, [stringAttr(NFTA_EXPR_NAME, name), ...(data ? [nested(NFTA_EXPR_DATA, data)] : [])]));
  }
  return out;
}

/**
 * Writes a rule comment as nft stores it in the rule's user data (a type-length-value record) at
 * `at` of `buf` (room for 3 + 3 bytes a character); returns its length, or 0 when the comment is
 * too long.
 */
export function writeCommentUserdata(buf: Buffer, at: number, comment: string): number {
  return endComment(buf, at, writeText(buf, at + 2, comment) + 1);
}

/**
 * Writes the comment of a Margay rule (state.ts `ruleComment`: `mg:<hash>`, then a space and the
 * description when there is one) as {@link writeCommentUserdata} does, from its parts: the same
 * bytes without the comment's string (a cold start's stream writes ~27,000).
 */
export function writeRuleCommentUserdata(buf: Buffer, at: number, hash: string, desc: string | undefined): number {
  let p = at + 2;
  p += writeText(buf, p, RULE_COMMENT_PREFIX);
  p += writeText(buf, p, hash);
  if (desc) {
    buf[p++] = 0x20;
    p += writeText(buf, p, desc);
  }
  return endComment(buf, at, p - at - 2 + 1);
}

/** Ends a comment's record at `at` whose `text` bytes (with the terminating zero) were written: its length, or 0 when too long. */
function endComment(buf: Buffer, at: number, text: number): number {
  if (text > COMMENT_MAX) return 0;
  buf[at] = UDATA_RULE_COMMENT;
  buf[at + 1] = text;
  buf[at + 1 + text] = 0;
  return 2 + text;
}
