/**
 * An nf_tables rule as a netlink message (pure), laid out as nft 1.0.6 sends it: `NEWRULE` with
 * table, chain, the expressions (rule-parse.ts, rule-encode.ts) and the comment as user data.
 * Rules that differ only in the chain they end jumping to share one parse and encoding of the
 * rest ({@link RuleExpressions}), and a rule can be written in place into a batch being filled
 * (the cold start's stream, ahead-stream.ts).
 */
import { CHAIN_VERDICTS, endAttr, NftMsg, nftMessage, NLA_F_NESTED, NLM_F_APPEND, NLM_F_CREATE, stringAttr, writeStringAttr, writeU32Attr } from './netlink-attr.ts';
import { encodeExpressions, writeCommentUserdata } from './rule-encode.ts';
import { isChainName, parseRule, type Expr } from './rule-parse.ts';

/** NFTA_RULE_* attributes. */
const RULE_TABLE = 1;
const RULE_CHAIN = 2;
const RULE_EXPRESSIONS = 4;
const RULE_USERDATA = 7;

/** A rule body that ends with a `jump`/`goto` to a chain: what comes before, the verdict, the chain. */
const CHAIN_VERDICT = /^(?:(.*) )?(jump|goto) (\S+)$/;
/** NFTA_LIST_ELEM, NFTA_EXPR_NAME/DATA (an expression in a list), NFTA_DATA_VERDICT. */
export const LIST_ELEM = 1;
export const EXPR_NAME = 1;
export const EXPR_DATA = 2;
const NFTA_DATA_VERDICT = 2;

/** A rule's expressions: all before a `jump`/`goto` verdict (encoded), and that verdict; or all of them. */
export interface RuleExprs {
  head: Buffer;
  jump?: { word: 'jump' | 'goto'; chain: string };
}

/**
 * The expressions of rule bodies, encoded, remembered while one encoder lives: bodies that differ
 * only in the chain they end jumping to (`jump pi-…`, `… jump po-…`: most rules of a large
 * table) share the parse and encoding of everything before the verdict, and equal bodies all of it.
 */
export class RuleExpressions {
  /** Body, or body without its chain target (`\0` and the verdict word instead) → expressions before a jump, or all. */
  readonly #known = new Map<string, Buffer | null>();

  /** The expressions of `body`, or undefined when not supported. */
  encode(body: string): RuleExprs | undefined {
    // Most bodies end with no jump: no need to match them.
    const m = body.includes('jump ') || body.includes('goto ') ? CHAIN_VERDICT.exec(body) : null;
    if (!m || !isChainName(m[3]!)) {
      const all = this.#remember(body, () => parseRule(body), false);
      return all ? { head: all } : undefined;
    }
    const [, before, word, chain] = m;
    // Parsed with a stand-in target: the chain's name changes no expression before the verdict.
    const head = this.#remember(`${before ?? ''}\0${word}`, () => parseRule(`${before === undefined ? '' : `${before} `}${word} x`), true);
    return head ? { head, jump: { word: word as 'jump' | 'goto', chain: chain! } } : undefined;
  }

  #remember(key: string, parse: () => Expr[] | undefined, dropVerdict: boolean): Buffer | undefined {
    let known = this.#known.get(key);
    if (known === undefined) {
      let list = parse();
      if (list && dropVerdict) {
        const last = list[list.length - 1];
        list = last?.kind === 'verdict' && last.chain === 'x' ? list.slice(0, -1) : undefined;
      }
      const encoded = list && encodeExpressions(list);
      known = encoded ? Buffer.concat(encoded) : null;
      this.#known.set(key, known);
    }
    return known ?? undefined;
  }
}

/** The most bytes a rule message takes (see {@link writeRule}). */
export function ruleMessageBound(table: string, chain: string, exprs: RuleExprs, comment: string): number {
  return 160 + 3 * (table.length + chain.length + (exprs.jump?.chain.length ?? 0) + comment.length) + exprs.head.length;
}

/** A rule appended to a chain (`add rule`), or undefined when its comment is too long. @throws {AttrTooLarge} */
export function writeRule(table: string, chain: string, exprs: RuleExprs, comment: string): Buffer | undefined {
  const buf = Buffer.allocUnsafe(ruleMessageBound(table, chain, exprs, comment));
  const length = writeRuleAt(buf, 0, table, chain, exprs, comment);
  return length === 0 ? undefined : buf.subarray(0, length);
}

/** NEWRULE's header and nfgenmsg as nft sends them, but for the message's length. */
const RULE_HEADER = nftMessage(NftMsg.newRule, NLM_F_CREATE | NLM_F_APPEND, []);

/**
 * Writes a rule message in place, at `at` of `buf` (room for {@link ruleMessageBound} bytes):
 * table, chain, expressions, comment. Returns its length, or 0 when the comment is too long (what
 * was written then is no message).
 * No buffer per message or attribute: a cold start writes ~30,000 rules this way (ahead-stream.ts).
 * @throws {AttrTooLarge}
 */
export function writeRuleAt(buf: Buffer, at: number, table: string, chain: string, exprs: RuleExprs, comment: string): number {
  buf.set(RULE_HEADER, at);
  let p = writeStringAttr(buf, at + RULE_HEADER.length, RULE_TABLE, table);
  p = writeStringAttr(buf, p, RULE_CHAIN, chain);
  const list = p;
  buf.set(exprs.head, p + 4);
  p += 4 + exprs.head.length;
  if (exprs.jump) p = writeJump(buf, p, exprs.jump);
  p = endAttr(buf, list, p, RULE_EXPRESSIONS | NLA_F_NESTED);
  const userdata = writeCommentUserdata(buf, p + 4, comment);
  if (userdata === 0) return 0;
  p = endAttr(buf, p, p + 4 + userdata, RULE_USERDATA);
  buf.writeUInt32LE(p - at, at);
  return p - at;
}

/** `immediate`: a jump's verdict into the verdict register (rule-encode.ts's layout, written in place). */
function writeJump(buf: Buffer, at: number, jump: NonNullable<RuleExprs['jump']>): number {
  let p = writeStringAttr(buf, at + 4, EXPR_NAME, 'immediate');
  const data = p;
  p = writeU32Attr(buf, p + 4, 1, 0);
  const imm = p;
  const verdict = p + 4;
  p = writeU32Attr(buf, verdict + 4, 1, CHAIN_VERDICTS[jump.word]!);
  p = writeStringAttr(buf, p, 2, jump.chain);
  p = endAttr(buf, verdict, p, NFTA_DATA_VERDICT | NLA_F_NESTED);
  p = endAttr(buf, imm, p, 2 | NLA_F_NESTED);
  p = endAttr(buf, data, p, EXPR_DATA | NLA_F_NESTED);
  return endAttr(buf, at, p, LIST_ELEM | NLA_F_NESTED);
}


/** A chain's rules deleted (`flush chain`: DELRULE without a handle). */
export function flushMessage(table: string, chain: string): Buffer {
  return nftMessage(NftMsg.delRule, 0, [stringAttr(RULE_TABLE, table), stringAttr(RULE_CHAIN, chain)]);
}
