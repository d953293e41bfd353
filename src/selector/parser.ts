/**
 * The selector parser: recursive descent over the token list.
 *
 * ```
 * selector := "" | or
 * or       := and ("||" and)*
 * and      := op ("&&" op)*
 * op       := "!"* ( has | "all()" | "global()" | "(" or ")" | label binop )
 * binop    := ("==" | "!=" | "contains" | "starts with" | "ends with") string
 *           | ("in" | "not in") "{" [string ("," string)* [","]] "}"
 * ```
 *
 * `!` applies to one op (`!a == "x" && b == "y"` is `(!(a == "x")) && b == "y"`); a run of `!`
 * folds to its parity. A single-operand chain is not wrapped, so `(a == "b")` is just the
 * comparison. `!` before a parenthesised negation cancels it (`!(!a == "x")` is `a == "x"`), so that
 * canonical text always re-parses to itself. Parentheses may nest at most {@link MAX_NESTING} deep, which keeps every recursive
 * walk of the tree far from the stack limit.
 */
import {
  ALL_NODE,
  GLOBAL_NODE,
  normaliseSetValues,
  type SelectorNode,
  type SetOperator,
  type ValueOperator,
} from './ast.ts';
import { SelectorParseError } from './errors.ts';
import { tokenize, type Token, type TokenKind } from './tokenizer.ts';

/** Deepest nesting of parentheses accepted. */
export const MAX_NESTING = 256;

const OPERATOR_TEXT: Partial<Record<TokenKind, string>> = {
  eq: '==',
  ne: '!=',
  contains: 'contains',
  startsWith: 'starts with',
  endsWith: 'ends with',
  in: 'in',
  notIn: 'not in',
};

/**
 * Parses selector text into its syntax tree.
 * @throws {SelectorParseError} with the offending position.
 */
export function parseSelectorAst(text: string): SelectorNode {
  const tokens = tokenize(text);
  return new Parser(text, tokens).parseRoot();
}

class Parser {
  private i = 0;
  private depth = 0;

  constructor(
    private readonly text: string,
    private readonly tokens: readonly Token[],
  ) {}

  private peek(): Token {
    // The list always ends with eof and the parser never moves past it.
    return this.tokens[this.i] as Token;
  }

  private next(): Token {
    const t = this.tokens[this.i] as Token;
    if (t.kind !== 'eof') this.i++;
    return t;
  }

  private fail(token: Token, hint?: string, reason?: string): never {
    const what = reason ?? describe(this.text, token);
    throw new SelectorParseError(what, token.pos, this.text, hint);
  }

  parseRoot(): SelectorNode {
    if (this.peek().kind === 'eof') return ALL_NODE;
    const node = this.parseOr();
    const t = this.peek();
    if (t.kind !== 'eof') {
      this.fail(t, t.kind === 'rparen' ? 'no "(" to close' : 'expected "&&", "||" or the end of the selector');
    }
    return node;
  }

  private parseOr(): SelectorNode {
    const first = this.parseAnd();
    if (this.peek().kind !== 'or') return first;
    const operands = [first];
    while (this.peek().kind === 'or') {
      this.next();
      operands.push(this.parseAnd());
    }
    return Object.freeze({ kind: 'or', operands: Object.freeze(operands) });
  }

  private parseAnd(): SelectorNode {
    const first = this.parseOp();
    if (this.peek().kind !== 'and') return first;
    const operands = [first];
    while (this.peek().kind === 'and') {
      this.next();
      operands.push(this.parseOp());
    }
    return Object.freeze({ kind: 'and', operands: Object.freeze(operands) });
  }

  private parseOp(): SelectorNode {
    let negated = false;
    while (this.peek().kind === 'not') {
      negated = !negated;
      this.next();
    }
    const node = this.parseOperand();
    if (!negated) return node;
    // `!(!x)`: the two negations cancel. (Calico keeps both and prints `!!x`, which re-parses as
    // `x`; folding here makes the canonical form a fixed point.)
    if (node.kind === 'not') return node.operand;
    return Object.freeze({ kind: 'not', operand: node });
  }

  private parseOperand(): SelectorNode {
    const t = this.next();
    switch (t.kind) {
      case 'has':
        return Object.freeze({ kind: 'has', label: t.value });
      case 'all':
        return ALL_NODE;
      case 'global':
        return GLOBAL_NODE;
      case 'lparen': {
        if (++this.depth > MAX_NESTING) {
          this.fail(t, undefined, `parentheses nested deeper than ${MAX_NESTING}`);
        }
        const inner = this.parseOr();
        const close = this.next();
        if (close.kind !== 'rparen') this.fail(close, `expected ")" to close the "(" at position ${t.pos}`);
        this.depth--;
        return inner;
      }
      case 'label':
        return this.parseComparison(t);
      case 'string':
        return this.fail(t, 'a comparison must start with a label, not a string');
      case 'eof':
        return this.fail(t, 'expected a comparison, has(), all(), global(), "!" or "("');
      default:
        return this.fail(t, 'expected a comparison, has(), all(), global(), "!" or "("');
    }
  }

  private parseComparison(labelTok: Token): SelectorNode {
    const label = labelTok.value;
    const op = this.next();
    switch (op.kind) {
      case 'eq':
      case 'ne':
      case 'contains':
      case 'startsWith':
      case 'endsWith': {
        const v = this.next();
        if (v.kind !== 'string') this.fail(v, `expected a quoted string after "${OPERATOR_TEXT[op.kind]}"`);
        return Object.freeze({ kind: op.kind as ValueOperator, label, value: v.value });
      }
      case 'in':
      case 'notIn': {
        const brace = this.next();
        if (brace.kind !== 'lbrace') this.fail(brace, `expected "{" after "${OPERATOR_TEXT[op.kind]}"`);
        const values: string[] = [];
        while (this.peek().kind === 'string') {
          values.push(this.next().value);
          if (this.peek().kind !== 'comma') break;
          this.next();
        }
        const close = this.next();
        if (close.kind !== 'rbrace') {
          this.fail(close, values.length === 0 ? 'expected a quoted string or "}"' : 'expected "," or "}"');
        }
        return Object.freeze({
          kind: op.kind as SetOperator,
          label,
          values: Object.freeze(normaliseSetValues(values)),
        });
      }
      default:
        return this.fail(
          op,
          `expected an operator after label ${JSON.stringify(label)}: ==, !=, in, not in, contains, starts with, ends with`,
        );
    }
  }
}

function describe(text: string, t: Token): string {
  if (t.kind === 'eof') return 'unexpected end of selector';
  return `unexpected token ${JSON.stringify(text.slice(t.pos, t.end))}`;
}
