/**
 * An nf_tables rule as a netlink message (pure), laid out as nft 1.0.6 sends it: `NEWRULE` with
 * table, chain, the expressions (rule-parse.ts, rule-encode.ts) and the comment as user data.
 * Rules that differ only in the chain they end jumping to share one parse and encoding of the
 * rest ({@link RuleExpressions}), and a rule can be written in place into a batch being filled
 * (the cold start's stream, ahead-stream.ts).
 */
import { CHAIN_VERDICTS, endAttr, NftMsg, nftMessage, NLA_F_NESTED, NLM_F_APPEND, NLM_F_CREATE, stringAttr, writeMessageLength, writeStringAttr, writeU32Attr } from './netlink-attr.ts';
import { encodeExpressions, writeCommentUserdata } from './rule-encode.ts';
import { isChainName, parseRule, type Expr } from './rule-parse.ts';

/** NFTA_RULE_* attributes. */
const RULE_TABLE = 1;
const RULE_CHAIN = 2;
const RULE_EXPRESSIONS = 4;
const RULE_USERDATA = 7;

/** A line terminator: `.` of a regular expression stops there (the split of {@link RuleExpressions.head} must do as `/^(?:(.*) )?(jump|goto) (\S+)$/` does). */
const LINE_TERMINATOR = /[\n\r\u2028\u2029]/;
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
  /** A body that does not end jumping to a chain → its expressions (null: not supported). */
  readonly #whole = new Map<string, Buffer | null>();
  /** What comes before `jump <chain>` / `goto <chain>` (`''` for none) → its expressions. */
  readonly #beforeJump = new Map<string, Buffer | null>();
  readonly #beforeGoto = new Map<string, Buffer | null>();
  /**
   * The verdict that ends the body {@link head} was last asked for: `jump`/`goto` and the chain,
   * or undefined (its expressions are the whole body). Read right after the call: no object per
   * rule (a cold start's stream writes ~27,000).
   */
  jumpWord: 'jump' | 'goto' | undefined;
  jumpChain = '';

  /** The expressions of `body`, or undefined when not supported. */
  encode(body: string): RuleExprs | undefined {
    const head = this.head(body);
    if (!head) return undefined;
    return this.jumpWord === undefined ? { head } : { head, jump: { word: this.jumpWord, chain: this.jumpChain } };
  }

  /**
   * The encoded expressions of `body` before a final `jump`/`goto` to a chain (then in
   * {@link jumpWord} and {@link jumpChain}), or all of them; undefined when not supported.
   */
  head(body: string): Buffer | undefined {
    this.jumpWord = undefined;
    // A chain verdict ends the body: `[<before> ]jump|goto <chain>`, the chain a name.
    const sp = body.lastIndexOf(' ');
    const wordAt = sp - 4;
    const word = wordAt >= 0 && (wordAt === 0 || body.charCodeAt(wordAt - 1) === 0x20) ? verdictWord(body, wordAt) : undefined;
    if (word !== undefined) {
      const chain = body.slice(sp + 1);
      if (isChainName(chain) && !LINE_TERMINATOR.test(body)) {
        const before = wordAt === 0 ? '' : body.slice(0, wordAt - 1);
        const known = word === 'jump' ? this.#beforeJump : this.#beforeGoto;
        let head = known.get(before);
        if (head === undefined) {
          // Parsed with a stand-in target: the chain's name changes no expression before the verdict.
          const list = parseRule(`${before === '' ? '' : `${before} `}${word} x`);
          const last = list?.[list.length - 1];
          head = list && last?.kind === 'verdict' && last.chain === 'x' ? encoded(list.slice(0, -1)) : null;
          known.set(before, head);
        }
        if (head === null) return undefined;
        this.jumpWord = word;
        this.jumpChain = chain;
        return head;
      }
    }
    let all = this.#whole.get(body);
    if (all === undefined) {
      const list = parseRule(body);
      all = list ? encoded(list) : null;
      this.#whole.set(body, all);
    }
    return all ?? undefined;
  }
}

/** `jump` or `goto` at `at` of `body` (4 characters), else undefined. */
function verdictWord(body: string, at: number): 'jump' | 'goto' | undefined {
  if (body.startsWith('jump', at)) return 'jump';
  if (body.startsWith('goto', at)) return 'goto';
  return undefined;
}

/** Expressions encoded as one buffer, or null when some cannot be. */
function encoded(list: readonly Expr[]): Buffer | null {
  const parts = encodeExpressions(list);
  return parts ? Buffer.concat(parts) : null;
}

/** The most bytes a rule message takes (see {@link writeRule}). */
export function ruleMessageBound(table: string, chain: string, exprs: RuleExprs, comment: string): number {
  return ruleBound(table, chain, exprs.head, exprs.jump?.chain ?? '', comment.length);
}

/** The most bytes a rule message takes, by its parts: expressions, a jump's chain ('' for none), the comment's length. */
export function ruleBound(table: string, chain: string, head: Buffer, jumpChain: string, commentLength: number): number {
  return 160 + 3 * (table.length + chain.length + jumpChain.length + commentLength) + head.length;
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
 * No buffer per message or attribute (ahead-stream.ts writes its rules with {@link writeRuleStart}).
 * @throws {AttrTooLarge}
 */
export function writeRuleAt(buf: Buffer, at: number, table: string, chain: string, exprs: RuleExprs, comment: string): number {
  const p = writeRuleStart(buf, at, table, chain, exprs.head, exprs.jump?.word, exprs.jump?.chain ?? '');
  return writeRuleEnd(buf, at, p, writeCommentUserdata(buf, p + 4, comment));
}

/**
 * Writes the start of a rule message in place, at `at` of `buf` (room for {@link ruleBound}
 * bytes): header, table, chain, the expressions `head` and a jump to `jumpChain` when `jumpWord`.
 * Returns where the comment's attribute starts: its user data goes 4 bytes further, then
 * {@link writeRuleEnd} ends the message. No object per rule: a cold start writes ~27,000 rules
 * this way (ahead-stream.ts). @throws {AttrTooLarge}
 */
export function writeRuleStart(buf: Buffer, at: number, table: string, chain: string, head: Buffer, jumpWord: 'jump' | 'goto' | undefined, jumpChain: string): number {
  buf.set(RULE_HEADER, at);
  let p = writeStringAttr(buf, at + RULE_HEADER.length, RULE_TABLE, table);
  p = writeStringAttr(buf, p, RULE_CHAIN, chain);
  const list = p;
  buf.set(head, p + 4);
  p += 4 + head.length;
  if (jumpWord !== undefined) p = writeJump(buf, p, jumpWord, jumpChain);
  return endAttr(buf, list, p, RULE_EXPRESSIONS | NLA_F_NESTED);
}

/**
 * Ends a rule message begun at `at` by {@link writeRuleStart}, whose comment's user data
 * (`userdata` bytes; 0: too long) stands at `p + 4`: returns the message's length, or 0 when the
 * comment was too long (what was written then is no message). @throws {AttrTooLarge}
 */
export function writeRuleEnd(buf: Buffer, at: number, p: number, userdata: number): number {
  if (userdata === 0) return 0;
  p = endAttr(buf, p, p + 4 + userdata, RULE_USERDATA);
  writeMessageLength(buf, at, p - at);
  return p - at;
}

/** `immediate`: a jump's verdict into the verdict register (rule-encode.ts's layout, written in place). */
function writeJump(buf: Buffer, at: number, word: 'jump' | 'goto', chain: string): number {
  let p = writeStringAttr(buf, at + 4, EXPR_NAME, 'immediate');
  const data = p;
  p = writeU32Attr(buf, p + 4, 1, 0);
  const imm = p;
  const verdict = p + 4;
  p = writeU32Attr(buf, verdict + 4, 1, CHAIN_VERDICTS[word]!);
  p = writeStringAttr(buf, p, 2, chain);
  p = endAttr(buf, verdict, p, NFTA_DATA_VERDICT | NLA_F_NESTED);
  p = endAttr(buf, imm, p, 2 | NLA_F_NESTED);
  p = endAttr(buf, data, p, EXPR_DATA | NLA_F_NESTED);
  return endAttr(buf, at, p, LIST_ELEM | NLA_F_NESTED);
}

/** A chain's rules deleted (`flush chain`: DELRULE without a handle). */
export function flushMessage(table: string, chain: string): Buffer {
  return nftMessage(NftMsg.delRule, 0, [stringAttr(RULE_TABLE, table), stringAttr(RULE_CHAIN, chain)]);
}
