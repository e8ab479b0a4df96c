// Reading one statement's tokens: look ahead, take words, tables and values, and fail with the line and
// column of the token at fault.
import { ImportSyntaxError } from './findings.ts';
import type { Ref } from './model.ts';
import type { Statement, Token } from './tokenizer.ts';
import { delaySeconds } from './units.ts';

export class Cursor {
  private i = 0;
  readonly file: string;
  readonly statement: Statement;

  constructor(statement: Statement, file: string) {
    this.statement = statement;
    this.file = file;
  }

  get tokens(): Token[] {
    return this.statement.tokens;
  }

  done(): boolean {
    return this.i >= this.tokens.length;
  }

  peek(offset = 0): Token | undefined {
    return this.tokens[this.i + offset];
  }

  /** The next token is this bare word (keywords are never quoted). */
  is(word: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t !== undefined && t.kind === 'word' && t.text === word;
  }

  isPunct(p: string, offset = 0): boolean {
    const t = this.peek(offset);
    return t !== undefined && t.kind === 'punct' && t.text === p;
  }

  /** Takes the word if it is next. */
  accept(word: string): Token | undefined {
    if (!this.is(word)) return undefined;
    return this.next();
  }

  next(): Token {
    const t = this.tokens[this.i];
    if (!t) throw this.errorAtEnd('unexpected end of the statement');
    this.i++;
    return t;
  }

  expect(word: string): Token {
    const t = this.peek();
    if (!this.is(word)) throw t ? this.error(t, `expected "${word}", found "${t.text}"`) : this.errorAtEnd(`expected "${word}"`);
    return this.next();
  }

  /** A word or a quoted string (a name, a path, a host). */
  value(what: string): Token {
    const t = this.peek();
    if (!t) throw this.errorAtEnd(`expected ${what}`);
    if (t.kind === 'punct') throw this.error(t, `expected ${what}, found "${t.text}"`);
    return this.next();
  }

  number(what: string): number {
    const t = this.value(what);
    if (!/^\d+$/.test(t.text)) throw this.error(t, `expected ${what} (a number), found "${t.text}"`);
    return Number(t.text);
  }

  /** A delay (`4d`): its seconds and the token, for positions. */
  delay(): { seconds: number; token: Token } {
    const token = this.value('a delay (4d)');
    const seconds = delaySeconds(token.text);
    if (seconds === undefined) throw this.error(token, `invalid delay "${token.text}"`);
    return { seconds, token };
  }

  /** `<name>`, a single value, or `{ a, b }` / `{ k = v, … }`. */
  ref(what: string): Ref {
    const t = this.peek();
    if (!t) throw this.errorAtEnd(`expected ${what}`);
    if (this.isPunct('<')) {
      this.next();
      const name = this.value('a table name');
      const close = this.peek();
      if (!this.isPunct('>')) throw close ? this.error(close, `expected ">" after <${name.text}`) : this.errorAtEnd(`expected ">" after <${name.text}`);
      this.next();
      return { kind: 'table', name: name.text, line: t.line, col: t.col };
    }
    if (this.isPunct('{')) return { ...this.braces(), line: t.line, col: t.col };
    const v = this.value(what);
    return { kind: 'inline', list: [v.text], map: [], line: t.line, col: t.col };
  }

  /** `{ a, b }` or `{ k = v, k => v }` (newlines may separate entries). */
  braces(): { kind: 'inline'; list: string[]; map: [string, string][] } {
    const open = this.next();
    const list: string[] = [];
    const map: [string, string][] = [];
    for (;;) {
      const t = this.peek();
      if (!t) throw this.error(open, 'missing "}"');
      if (this.isPunct('}')) {
        this.next();
        break;
      }
      if (this.isPunct(',')) {
        this.next();
        continue;
      }
      const k = this.value('a value');
      if (this.isPunct('=') || this.isPunct('=>')) {
        this.next();
        map.push([k.text, this.value('a value').text]);
      } else list.push(k.text);
    }
    if (list.length && map.length) throw this.error(open, 'a table is either a list or a mapping, not both');
    if (!list.length && !map.length) throw this.error(open, 'an empty table');
    return { kind: 'inline', list, map };
  }

  /** Fails unless every token was read. */
  end(): void {
    const t = this.peek();
    if (t) throw this.error(t, `unexpected "${t.text}"`);
  }

  error(t: Token, message: string): ImportSyntaxError {
    return new ImportSyntaxError(this.file, t.line, t.col, message);
  }

  errorAtEnd(message: string): ImportSyntaxError {
    const last = this.tokens[this.tokens.length - 1];
    return new ImportSyntaxError(this.file, last.line, last.col + last.text.length, message);
  }

  /** The statement's text from token `from` on, for messages (`filter "rspamd" proc-exec …`); `<t>` is one word. */
  text(from = 0, max = 8): string {
    const words: string[] = [];
    const ts = this.tokens.slice(from);
    for (let k = 0; k < ts.length; k++) {
      const t = ts[k];
      if (t.kind === 'punct' && t.text === '<' && ts[k + 2]?.text === '>') {
        words.push(`<${ts[k + 1].text}>`);
        k += 2;
      } else words.push(t.kind === 'string' ? `"${t.text}"` : t.text);
    }
    return words.slice(0, max).join(' ') + (words.length > max ? ' …' : '');
  }
}

/** A Ref as written, for messages: `<aliases>`, `example.org`, `{a, b}`. */
export function refText(r: Ref): string {
  if (r.kind === 'table') return `<${r.name}>`;
  if (r.list.length === 1 && !r.map.length) return r.list[0];
  return `{${[...r.list, ...r.map.map(([k, v]) => `${k} = ${v}`)].join(', ')}}`;
}
