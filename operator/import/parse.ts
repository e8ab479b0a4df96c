// smtpd.conf → SmtpdConf. One dispatcher for both grammars: statements they share (table, pki, listen),
// the old ones (accept/reject, limit mta, max-message-size, expire) and the current ones (action/match,
// mta limit, smtp max-message-size, queue ttl, srs). Known statements without a kubemta equivalent are
// findings; an unknown statement or option is a syntax error with its line and column.
import { Cursor } from './cursor.ts';
import type { Findings } from './findings.ts';
import { emptyConf, type SmtpdConf, type TableDecl } from './model.ts';
import { parseListen } from './parse-listen.ts';
import { parseAction, parseMatch } from './parse-rules-new.ts';
import { parseAccept } from './parse-rules-old.ts';
import { tokenize } from './tokenizer.ts';
import { sizeBytes } from './units.ts';

type Handler = (c: Cursor, conf: SmtpdConf, findings: Findings) => void;

/** Statements (by their first one or two words) dropped whole, with the reason. */
const DROPPED: Record<string, string> = {
  ca: 'client certificates are not checked; the system CA bundle verifies next hops',
  filter: 'filters have no kubemta equivalent',
  proc: 'filter processes have no kubemta equivalent',
  include: 'included files are not read: import them separately and merge',
  admd: 'no Authentication-Results header is added',
  'bounce-warn': 'delay warnings (DSN "delayed") are not sent',
  bounce: 'delay warnings (DSN "delayed") are not sent',
  'max-mta-deferred': 'the scheduler has no per-host deferred cache limit',
  'queue compression': 'the queue is not compressed',
  'queue encryption': 'the queue is not encrypted (encrypt the volume instead)',
  'mta max-deferred': 'the scheduler has no per-host deferred cache limit',
  'mda wrapper': 'MDA wrappers have no kubemta equivalent',
  'mda limit': 'local delivery has no session limits to set',
  'limit mda': 'local delivery has no session limits to set',
  'scheduler limit': 'the scheduler has no limits to set',
  'limit scheduler': 'the scheduler has no limits to set',
  'smtp ciphers': 'TLS ciphers are Node\'s defaults',
};

function parseTable(c: Cursor, conf: SmtpdConf): void {
  const start = c.next();
  const name = c.value('a table name');
  if (conf.tables.has(name.text)) throw c.error(name, `table "${name.text}" is already defined`);
  let decl: TableDecl;
  if (c.isPunct('{')) decl = { name: name.text, backend: 'static', line: start.line, col: start.col, ...c.braces() };
  else {
    const v = c.value('a table source (file:/path, db:/path.db, /path)');
    const m = /^([a-z][a-z0-9_-]*):(.*)$/.exec(v.text);
    const backend = v.text.startsWith('/') ? 'file' : (m?.[1] ?? 'file');
    decl = { name: name.text, backend, path: m ? m[2] : v.text, line: start.line, col: start.col };
  }
  c.end();
  conf.tables.set(decl.name, decl);
}

function parsePki(c: Cursor, conf: SmtpdConf, findings: Findings): void {
  const start = c.next();
  const name = c.value('a pki name').text.toLowerCase();
  const pki = conf.pki.get(name) ?? { name, line: start.line, col: start.col };
  conf.pki.set(name, pki);
  if (c.done()) throw c.errorAtEnd('expected cert, key or dhe');
  while (!c.done()) {
    const t = c.next();
    if (t.text === 'cert' || t.text === 'certificate') pki.cert = c.value('a certificate file').text;
    else if (t.text === 'key') pki.key = c.value('a key file').text;
    else if (t.text === 'dhe' || t.text === 'dhparams' || t.text === 'ca') findings.dropped(t, `pki ${name} ${t.text} ${c.value('a value').text}`, t.text === 'ca' ? 'client certificates are not checked' : 'DHE parameters are Node\'s defaults');
    else throw c.error(t, `unknown pki option "${t.text}"`);
  }
}

/** `limit mta …` (old) and `mta limit …` (current): the family is imported, the rest reported. */
function parseMtaLimit(c: Cursor, conf: SmtpdConf, findings: Findings): void {
  const start = c.next();
  c.next(); // mta | limit
  if (c.accept('for')) {
    c.expect('domain');
    const d = c.value('a domain');
    while (!c.done()) c.next();
    findings.dropped(start, c.text(), `limits for one destination (${d.text}) have no kubemta equivalent`);
    return;
  }
  while (!c.done()) {
    const t = c.next();
    if (t.text === 'inet4' || t.text === 'inet6') conf.mtaFamily = { family: t.text, line: t.line, col: t.col };
    else findings.dropped(t, `${t.text} ${c.value('a number').text}`, 'outbound connection limits are not set from the CRDs');
  }
}

function parseSmtp(c: Cursor, conf: SmtpdConf, findings: Findings): void {
  c.next(); // smtp
  const t = c.value('max-message-size, limit, ciphers or sub-addr-delim');
  if (t.text === 'max-message-size') setMaxSize(c, conf);
  else if (t.text === 'sub-addr-delim') {
    const d = c.value('a delimiter character');
    if (d.text.length !== 1) throw c.error(d, `a sub-address delimiter is one character, not "${d.text}"`);
    conf.subaddressDelimiter = { value: d.text, line: d.line, col: d.col };
    c.end();
  } else if (t.text === 'ciphers') dropWhole(c, findings, DROPPED['smtp ciphers']);
  else if (t.text === 'limit') {
    while (!c.done()) {
      const k = c.value('max-rcpt or max-mails');
      const n = c.number(k.text);
      if (k.text === 'max-rcpt') conf.maxRecipients = { value: n, line: k.line, col: k.col };
      else if (k.text === 'max-mails') findings.dropped(k, `max-mails ${n}`, 'messages per session are not set from the CRDs');
      else throw c.error(k, `unknown smtp limit "${k.text}"`);
    }
  } else throw c.error(t, `unknown smtp option "${t.text}"`);
}

function setMaxSize(c: Cursor, conf: SmtpdConf): void {
  const v = c.value('a size (35M)');
  const n = sizeBytes(v.text);
  if (n === undefined) throw c.error(v, `invalid size "${v.text}"`);
  conf.maxMessageBytes = { value: n, line: v.line, col: v.col };
  c.end();
}

function setTtl(c: Cursor, conf: SmtpdConf): void {
  const { seconds, token } = c.delay();
  conf.queueTtlSeconds = { value: seconds, line: token.line, col: token.col };
  c.end();
}

/** `srs key "secret"`, `srs key backup "secret"` (the key verifying alongside, for rotation), `srs ttl 4d`. */
function parseSrs(c: Cursor, conf: SmtpdConf): void {
  const start = c.next(); // srs
  const t = c.value('key or ttl');
  const srs = (conf.srs ??= {});
  if (t.text === 'key') {
    const backup = c.accept('backup');
    const v = c.value('a secret');
    if (!v.text) throw c.error(v, 'an empty SRS key');
    srs[backup ? 'backup' : 'key'] = { value: v.text, line: start.line, col: start.col };
  } else if (t.text === 'ttl') {
    srs.ttl = { seconds: c.delay().seconds, line: start.line, col: start.col };
  } else throw c.error(t, `unknown srs option "${t.text}"`);
  c.end();
}

function dropWhole(c: Cursor, findings: Findings, reason: string): void {
  findings.dropped(c.tokens[0], c.text(), reason);
}

const handlers: Record<string, Handler> = {
  table: (c, conf) => parseTable(c, conf),
  pki: parsePki,
  listen: (c, conf, f) => void conf.listeners.push(...parseListen(c, f)),
  action: (c, conf, f) => {
    const name = c.peek(1);
    const a = parseAction(c, f);
    if (conf.actions.has(a.name)) throw c.error(name!, `action "${a.name}" is already defined`);
    conf.actions.set(a.name, a);
  },
  match: (c, conf) => void conf.rules.push(parseMatch(c, conf)),
  accept: (c, conf, f) => void conf.rules.push(parseAccept(c, f)),
  reject: (c, conf, f) => void conf.rules.push(parseAccept(c, f)),
  'max-message-size': (c, conf) => {
    c.next();
    setMaxSize(c, conf);
  },
  expire: (c, conf) => {
    c.next();
    setTtl(c, conf);
  },
  smtp: parseSmtp,
  srs: (c, conf) => parseSrs(c, conf),
};

const pairHandlers: Record<string, Handler> = {
  'limit mta': parseMtaLimit,
  'mta limit': parseMtaLimit,
  'queue ttl': (c, conf) => {
    c.next();
    c.next();
    setTtl(c, conf);
  },
};

/** Parses a whole config; throws ImportSyntaxError on the first syntax error. */
export function parseSmtpdConf(text: string, file: string, findings: Findings): SmtpdConf {
  const conf = emptyConf();
  for (const st of tokenize(text, file)) {
    const c = new Cursor(st, file);
    const first = st.tokens[0];
    const pair = `${first.text} ${st.tokens[1]?.text ?? ''}`;
    if (first.kind !== 'word') throw c.error(first, `a statement cannot start with "${first.text}"`);
    const handler = pairHandlers[pair] ?? handlers[first.text];
    if (handler) handler(c, conf, findings);
    else if (DROPPED[pair] ?? DROPPED[first.text]) dropWhole(c, findings, DROPPED[pair] ?? DROPPED[first.text]);
    else throw c.error(first, `unknown statement "${first.text}"`);
  }
  return conf;
}
