// smtpd.conf → statements of tokens, as OpenSMTPD's lexer (parse.y yylex) reads it: `#` comments to the end
// of the line, a backslash before a newline continues the line, single- or double-quoted strings, the
// punctuation `< > { } , = => !`, macros (`name = "value"` defines, `$name` outside quotes expands).
// A newline ends a statement except inside `{ … }`. Every token keeps its line and column for messages.
import { ImportSyntaxError } from './findings.ts';

export type TokenKind = 'word' | 'string' | 'punct';

export interface Token {
  kind: TokenKind;
  /** The text; for strings without the quotes, escapes resolved. */
  text: string;
  line: number;
  col: number;
}

export interface Statement {
  tokens: Token[];
  line: number;
}

const PUNCT = new Set(['<', '>', '{', '}', ',', '=', '!', '(', ')']);
const WORD_END = /[\s"'#<>{}(),=!]/;

interface RawToken extends Token {
  /** `$name` outside quotes: expanded once the macros before it are known. */
  macro?: boolean;
}

/** Lexes the whole text into logical lines of raw tokens (macros not yet expanded). */
function lex(text: string, file: string): RawToken[][] {
  const lines: RawToken[][] = [];
  let current: RawToken[] = [];
  let depth = 0;
  let i = 0;
  let line = 1;
  let col = 1;
  const advance = (n = 1) => {
    for (let k = 0; k < n; k++) {
      if (text[i] === '\n') {
        line++;
        col = 1;
      } else col++;
      i++;
    }
  };
  const endLine = () => {
    if (current.length) lines.push(current);
    current = [];
  };
  while (i < text.length) {
    const c = text[i];
    if (c === '\\' && (text[i + 1] === '\n' || (text[i + 1] === '\r' && text[i + 2] === '\n'))) {
      advance(text[i + 1] === '\r' ? 3 : 2);
      continue;
    }
    if (c === '\n') {
      advance();
      if (depth === 0) endLine();
      continue;
    }
    if (c === ' ' || c === '\t' || c === '\r') {
      advance();
      continue;
    }
    if (c === '#') {
      while (i < text.length && text[i] !== '\n') advance();
      continue;
    }
    const at = { line, col };
    if (c === '"' || c === "'") {
      let s = '';
      advance();
      for (;;) {
        if (i >= text.length) throw new ImportSyntaxError(file, at.line, at.col, 'unterminated quoted string');
        const d = text[i];
        if (d === c) {
          advance();
          break;
        }
        if (d === '\\' && (text[i + 1] === c || text[i + 1] === ' ' || text[i + 1] === '\t')) {
          s += text[i + 1];
          advance(2);
          continue;
        }
        if (d === '\\' && text[i + 1] === '\n') {
          advance(2);
          continue;
        }
        s += d;
        advance();
      }
      current.push({ kind: 'string', text: s, ...at });
      continue;
    }
    if (c === '=' && text[i + 1] === '>') {
      current.push({ kind: 'punct', text: '=>', ...at });
      advance(2);
      continue;
    }
    if (PUNCT.has(c)) {
      if (c === '{') depth++;
      if (c === '}') depth = Math.max(0, depth - 1);
      current.push({ kind: 'punct', text: c, ...at });
      advance();
      continue;
    }
    let w = '';
    while (i < text.length && !WORD_END.test(text[i])) {
      if (text[i] === '\\' && text[i + 1] === '\n') {
        advance(2);
        continue;
      }
      w += text[i];
      advance();
    }
    if (w.startsWith('$') && /^\$[A-Za-z0-9_]+$/.test(w)) current.push({ kind: 'word', text: w.slice(1), ...at, macro: true });
    else current.push({ kind: 'word', text: w, ...at });
  }
  if (depth > 0) throw new ImportSyntaxError(file, line, col, 'missing "}" before the end of the file');
  endLine();
  return lines;
}

function isMacroDefinition(t: RawToken[]): boolean {
  return t.length === 3 && t[0].kind === 'word' && !t[0].macro && /^[A-Za-z0-9_]+$/.test(t[0].text) && t[1].text === '=' && t[1].kind === 'punct' && t[2].kind !== 'punct';
}

/**
 * The statements of a config, macros expanded: a macro's value is lexed again where it is used (as
 * OpenSMTPD does), its tokens placed at the `$name`. A macro must be defined before use.
 */
export function tokenize(text: string, file = 'smtpd.conf'): Statement[] {
  const macros = new Map<string, string>();
  const out: Statement[] = [];
  for (const raw of lex(text, file)) {
    if (isMacroDefinition(raw)) {
      macros.set(raw[0].text, raw[2].text);
      continue;
    }
    const tokens: Token[] = [];
    for (const t of raw) {
      if (!t.macro) {
        tokens.push({ kind: t.kind, text: t.text, line: t.line, col: t.col });
        continue;
      }
      const value = macros.get(t.text);
      if (value === undefined) throw new ImportSyntaxError(file, t.line, t.col, `macro "${t.text}" is not defined`);
      for (const sub of lex(value, file).flat()) tokens.push({ kind: sub.kind, text: sub.text, line: t.line, col: t.col });
    }
    if (tokens.length) out.push({ tokens, line: tokens[0].line });
  }
  return out;
}
