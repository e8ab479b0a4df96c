// The old grammar's rules (OpenSMTPD ≤ 6.3, the seed article's):
//   accept|reject [tagged [!] T] [from [!] any|local|source V] [sender [!] V] [for [!] any|local|domain V]
//          [recipient [!] V] [alias V|virtual V|userbase V]
//          [deliver to mbox|maildir [path]|lmtp DEST|mda CMD | relay [via URL [auth V]] [tls [verify]] …]
//          [expire D] [forward-only]
// Each `accept` becomes a Rule with its own Action (`accept@<line>`), as the current grammar would write it.
import { refText, type Cursor } from './cursor.ts';
import type { Findings } from './findings.ts';
import type { Condition, ForCondition, FromCondition, RuleDecl } from './model.ts';
import { newAction } from './parse-rules-new.ts';

const RELAY_DROPPED: Record<string, string> = {
  as: 'the envelope sender is never rewritten',
  source: 'the pod\'s address is the source',
  hostnames: 'one EHLO name (spec.outbound.heloName)',
  pki: 'no client certificate is presented to the next hop',
  backup: 'backup MX operation has no kubemta equivalent',
};

/** Words that start an option of an accept rule (so `relay backup tls` is not a backup host "tls"). */
const OPTIONS = new Set(['tagged', 'from', 'for', 'sender', 'recipient', 'alias', 'virtual', 'userbase', 'deliver', 'relay', 'auth', 'hostname', 'tls', 'verify', 'expire', 'forward-only', ...Object.keys(RELAY_DROPPED)]);

function cond(c: Cursor, t: { line: number; col: number }): Condition {
  const negated = c.isPunct('!');
  if (negated) c.next();
  return { line: t.line, col: t.col, negated, regex: false };
}

export function parseAccept(c: Cursor, findings: Findings): RuleDecl {
  const start = c.next(); // accept | reject
  const action = newAction(`accept@${start.line}`, start);
  let from: FromCondition | undefined;
  let forC: ForCondition | undefined;
  const rule: Omit<RuleDecl, 'from' | 'for' | 'decision'> = { grammar: 'old', text: c.text(0, 12), line: start.line, col: start.col, unsupported: [] };
  while (!c.done()) {
    const t = c.next();
    switch (t.kind === 'word' ? t.text : '') {
      case 'tagged':
        rule.tag = { ...cond(c, t), value: c.value('a tag').text };
        break;
      case 'from': {
        if (from) throw c.error(t, 'from already given');
        const f = cond(c, t);
        const k = c.value('any, local or source');
        if (k.text === 'source') from = { ...f, kind: 'src', value: c.ref('a table of networks') };
        else if (k.text === 'any' || k.text === 'local') from = { ...f, kind: k.text };
        else if (k.text === 'auth') {
          from = { ...f, kind: 'auth' };
          rule.auth = f;
        } else throw c.error(k, `unknown source "${k.text}"`);
        break;
      }
      case 'for': {
        if (forC) throw c.error(t, 'for already given');
        const f = cond(c, t);
        const k = c.value('any, local or domain');
        if (k.text === 'domain') forC = { ...f, kind: 'domain', value: c.ref('a domain or table') };
        else if (k.text === 'any' || k.text === 'local') forC = { ...f, kind: k.text };
        else throw c.error(k, `unknown destination "${k.text}"`);
        break;
      }
      case 'sender':
      case 'recipient':
        cond(c, t);
        c.ref('a table');
        rule.unsupported.push({ line: t.line, col: t.col, what: t.text });
        break;
      case 'alias':
        action.alias = c.ref('an aliases table');
        break;
      case 'virtual':
        action.virtual = c.ref('a virtual table');
        break;
      case 'userbase':
        findings.dropped(t, `userbase ${refText(c.ref('a table'))}`, 'mailboxes are names in the mail store, not system users (getpwnam/userbase)');
        break;
      case 'deliver': {
        c.expect('to');
        const m = c.value('mbox, maildir, lmtp or mda');
        if (m.text === 'mbox') action.method = 'mbox';
        else if (m.text === 'maildir') {
          action.method = 'maildir';
          if (!c.done() && c.peek()!.kind === 'string') findings.changed(c.next(), 'maildir path', 'maildirs live in the mail store (<mailStore>/maildir/<user>), not at a path');
        } else if (m.text === 'lmtp') {
          action.method = 'lmtp';
          action.lmtp = { destination: c.value('an LMTP destination').text, rcptTo: false };
        } else if (m.text === 'mda') {
          action.method = 'mda';
          c.value('an MDA command');
        } else throw c.error(m, `unknown delivery "${m.text}"`);
        break;
      }
      case 'relay':
        action.method = 'relay';
        if (c.accept('via')) action.relay.host = c.value('a relay URL').text;
        break;
      case 'auth':
        if (action.method !== 'relay') throw c.error(t, '"auth" here needs "relay via URL" first');
        action.relay.auth = c.ref('a credentials table');
        break;
      case 'hostname':
        if (action.method !== 'relay') throw c.error(t, '"hostname" here needs "relay" first');
        action.relay.helo = c.value('a HELO name').text;
        break;
      case 'tls':
        if (action.method !== 'relay') throw c.error(t, '"tls" here needs "relay" first');
        action.relay.tls = c.accept('verify') ? 'verify' : 'required';
        break;
      case 'verify':
        if (action.method !== 'relay') throw c.error(t, '"verify" here needs "relay via" first');
        action.relay.tls = 'verify';
        break;
      case 'expire':
        action.ttlSeconds = c.delay().seconds;
        break;
      case 'forward-only':
        action.method = 'forward-only';
        break;
      default:
        if (action.method === 'relay' && RELAY_DROPPED[t.text]) {
          const hostFollows = !c.done() && c.peek()!.kind !== 'punct' && !OPTIONS.has(c.peek()!.text);
          const arg = t.text === 'backup' ? (hostFollows ? ` ${c.next().text}` : '') : ` ${refText(c.ref('a value'))}`;
          findings.dropped(t, `${t.text}${arg}`, RELAY_DROPPED[t.text]);
        } else throw c.error(t, `unknown ${start.text} option "${t.text}"`);
    }
  }
  const dflt = { line: start.line, col: start.col, negated: false, regex: false };
  return {
    ...rule,
    from: from ?? { ...dflt, kind: 'local' },
    for: forC ?? { ...dflt, kind: 'local' },
    decision: start.text === 'reject' ? { kind: 'reject' } : { kind: 'action', action },
  };
}
