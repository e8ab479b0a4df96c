// The current grammar's dispatchers and rules (OpenSMTPD 6.4 on, parse.y `dispatcher` and `match`):
//   action NAME mbox|maildir [path] [junk]|lmtp DEST [rcpt-to]|mda CMD|expand-only|forward-only|relay
//          [alias <t>] [virtual <t>] [userbase <t>] [user U] [wrapper W] [ttl D]
//          [host URL] [auth <t>] [helo NAME] [tls [no-verify]] [srs] [backup [mx NAME]] [pki P] [ca C] [src <t>] …
//   match [!]from any|local|src V|auth [V]|socket|rdns [V]|mail-from V  [!]for any|local|domain V|rcpt-to V
//         [!]tag T [!]auth [V] [!]helo V [!]mail-from V [!]rcpt-to V [!]tls   action NAME | reject
import { refText, type Cursor } from './cursor.ts';
import type { Findings } from './findings.ts';
import type { ActionDecl, ForCondition, FromCondition, RuleDecl, SmtpdConf } from './model.ts';

/** Relay options without a kubemta equivalent, and how many arguments each takes. */
const RELAY_DROPPED: Record<string, { args: number; reason: string }> = {
  backup: { args: 0, reason: 'backup MX operation has no kubemta equivalent' },
  pki: { args: 1, reason: 'no client certificate is presented to the next hop' },
  ca: { args: 1, reason: 'the system CA bundle verifies the next hop' },
  ciphers: { args: 1, reason: 'TLS ciphers are Node\'s defaults' },
  protocols: { args: 1, reason: 'TLS protocol versions are Node\'s defaults' },
  src: { args: 1, reason: 'the pod\'s address is the source' },
  'helo-src': { args: 1, reason: 'one EHLO name (spec.outbound.heloName)' },
  'mail-from': { args: 1, reason: 'the envelope sender is never rewritten' },
  filter: { args: 1, reason: 'filters have no kubemta equivalent' },
  domain: { args: 1, reason: 'per-domain relay hosts: use one smarthost (spec.outbound.smarthost)' },
};

const LOCAL_DROPPED: Record<string, string> = {
  userbase: 'mailboxes are names in the mail store, not system users (getpwnam/userbase)',
  user: 'deliveries are not run as a system user',
  wrapper: 'MDA wrappers have no kubemta equivalent',
};

export function newAction(name: string, at: { line: number; col: number }): ActionDecl {
  return { name, line: at.line, col: at.col, method: 'none', relay: {} };
}

export function parseAction(c: Cursor, findings: Findings): ActionDecl {
  const start = c.next(); // action
  const name = c.value('an action name');
  const a = newAction(name.text, start);
  const m = c.value('a delivery method (mbox, maildir, lmtp, mda, relay, …)');
  switch (m.text) {
    case 'mbox':
    case 'relay':
    case 'expand-only':
    case 'forward-only':
      a.method = m.text;
      break;
    case 'maildir':
      a.method = 'maildir';
      if (c.peek()?.kind === 'string' || (c.peek()?.kind === 'word' && !isActionOption(c.peek()!.text))) {
        const path = c.next();
        findings.changed(path, `maildir ${path.text}`, 'maildirs live in the mail store (<mailStore>/maildir/<user>), not at a path');
      }
      if (c.is('junk')) findings.dropped(c.next(), 'junk', 'no Junk folder handling');
      break;
    case 'lmtp': {
      a.method = 'lmtp';
      const dest = c.value('an LMTP destination (host:port or a socket path)');
      a.lmtp = { destination: dest.text, rcptTo: !!c.accept('rcpt-to') };
      break;
    }
    case 'mda':
      a.method = 'mda';
      c.value('an MDA command');
      break;
    default:
      throw c.error(m, `unknown delivery method "${m.text}"`);
  }
  parseActionOptions(c, a, findings);
  return a;
}

function isActionOption(word: string): boolean {
  return ['alias', 'virtual', 'userbase', 'user', 'wrapper', 'ttl', 'junk'].includes(word);
}

function parseActionOptions(c: Cursor, a: ActionDecl, findings: Findings): void {
  while (!c.done()) {
    const t = c.next();
    const word = t.kind === 'word' ? t.text : '';
    if (word === 'alias') a.alias = c.ref('an aliases table');
    else if (word === 'virtual') a.virtual = c.ref('a virtual table');
    else if (word === 'ttl') a.ttlSeconds = c.delay().seconds;
    else if (LOCAL_DROPPED[word]) {
      findings.dropped(t, `${word} ${refText(c.ref('a value'))}`, LOCAL_DROPPED[word]);
    } else if (a.method === 'relay' && word === 'host') a.relay.host = c.value('a relay URL').text;
    else if (a.method === 'relay' && word === 'auth') a.relay.auth = c.ref('a credentials table');
    else if (a.method === 'relay' && word === 'helo') a.relay.helo = c.value('a HELO name').text;
    else if (a.method === 'relay' && word === 'tls') a.relay.tls = c.accept('no-verify') ? 'required' : 'verify';
    else if (a.method === 'relay' && word === 'srs') a.relay.srs = { line: t.line, col: t.col };
    else if (a.method === 'relay' && RELAY_DROPPED[word]) {
      const spec = RELAY_DROPPED[word];
      let what = word;
      if (word === 'backup' && c.accept('mx')) what += ` mx ${c.value('a host').text}`;
      else if (spec.args) what += ` ${refText(c.ref('a value'))}`;
      findings.dropped(t, what, spec.reason);
    } else throw c.error(t, `unknown option "${t.text}" for a ${a.method} action`);
  }
}

function condition<T>(c: Cursor, negated: boolean, t: { line: number; col: number }, extra: T) {
  const regex = !!c.accept('regex');
  return { line: t.line, col: t.col, negated, regex, ...extra };
}

export function parseMatch(c: Cursor, conf: SmtpdConf): RuleDecl {
  const start = c.next(); // match
  let from: FromCondition | undefined;
  let forC: ForCondition | undefined;
  const rule: Omit<RuleDecl, 'from' | 'for' | 'decision'> = { grammar: 'new', text: c.text(0, 12), line: start.line, col: start.col, unsupported: [] };
  for (;;) {
    const t = c.peek();
    if (!t) throw c.errorAtEnd('expected "action NAME" or "reject"');
    if (c.is('action') || c.is('reject')) break;
    const negated = c.isPunct('!');
    if (negated) c.next();
    const kw = c.next();
    switch (kw.kind === 'word' ? kw.text : '') {
      case 'from': {
        if (from) throw c.error(kw, 'from already given');
        const k = c.value('any, local, src, auth, socket, rdns or mail-from');
        if (!['any', 'local', 'src', 'auth', 'socket', 'rdns', 'mail-from'].includes(k.text)) throw c.error(k, `unknown source "${k.text}"`);
        const f = condition(c, negated, kw, { kind: k.text as FromCondition['kind'] });
        const takesValue = k.text === 'src' || k.text === 'mail-from' || ((k.text === 'auth' || k.text === 'rdns') && !c.done() && (c.isPunct('<') || c.isPunct('{') || c.peek()!.kind === 'string'));
        from = takesValue ? { ...f, value: c.ref('a value or table') } : f;
        if (k.text === 'auth') rule.auth = { line: kw.line, col: kw.col, negated, regex: f.regex, ...(from.value ? { users: from.value } : {}) };
        break;
      }
      case 'for': {
        if (forC) throw c.error(kw, 'for already given');
        const k = c.value('any, local, domain or rcpt-to');
        if (!['any', 'local', 'domain', 'rcpt-to'].includes(k.text)) throw c.error(k, `unknown destination "${k.text}"`);
        const f = condition(c, negated, kw, { kind: k.text as ForCondition['kind'] });
        forC = k.text === 'domain' || k.text === 'rcpt-to' ? { ...f, value: c.ref('a domain or table') } : f;
        break;
      }
      case 'tag': {
        const f = condition(c, negated, kw, {});
        rule.tag = { ...f, value: c.value('a tag').text };
        break;
      }
      case 'auth': {
        const f = condition(c, negated, kw, {});
        rule.auth = !c.done() && (c.isPunct('<') || c.isPunct('{') || c.peek()!.kind === 'string') ? { ...f, users: c.ref('users') } : f;
        break;
      }
      case 'helo':
      case 'mail-from':
      case 'rcpt-to':
        condition(c, negated, kw, {});
        c.ref('a value or table');
        rule.unsupported.push({ line: kw.line, col: kw.col, what: `${negated ? '!' : ''}${kw.text}` });
        break;
      case 'tls':
        rule.unsupported.push({ line: kw.line, col: kw.col, what: `${negated ? '!' : ''}tls` });
        break;
      default:
        throw c.error(kw, `unknown match option "${kw.text}"`);
    }
  }
  const d = c.next();
  let decision: RuleDecl['decision'] = { kind: 'reject' };
  if (d.text === 'action') {
    const name = c.value('an action name');
    const action = conf.actions.get(name.text);
    if (!action) throw c.error(name, `no action named "${name.text}" declared before this match`);
    decision = { kind: 'action', action };
  }
  c.end();
  return {
    ...rule,
    from: from ?? { kind: 'local', line: start.line, col: start.col, negated: false, regex: false },
    for: forC ?? { kind: 'local', line: start.line, col: start.col, negated: false, regex: false },
    decision,
  };
}
