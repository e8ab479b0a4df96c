// `listen on IFACE [family] [options]`, both grammars (the old one adds `secure`, `mask-source`; the
// current one `mask-src`, `proxy-v2`, several `pki` for SNI). Options kubemta has no equivalent for are
// reported and left out.
import { refText, type Cursor } from './cursor.ts';
import type { Findings } from './findings.ts';
import type { Interface, ListenDecl } from './model.ts';

const LOOPBACK = new Set(['localhost', 'lo', 'lo0', '127.0.0.1', '::1']);
const ALL = new Set(['all', 'egress', '0.0.0.0', '::', '*']);
const SERVICE_PORTS: Record<string, number> = { smtp: 25, submission: 587, smtps: 465, lmtp: 24 };

/** Options that take no argument and have no kubemta equivalent. */
const DROPPED_FLAGS: Record<string, string> = {
  'mask-src': 'the Received header always names the client',
  'mask-source': 'the Received header always names the client',
  'no-dsn': 'DSN is always offered',
  'received-auth': 'the Received header does not report the authenticated user',
};

/** Options that take one argument and have no kubemta equivalent. */
const DROPPED_WITH_ARG: Record<string, string> = {
  filter: 'filters have no kubemta equivalent',
  ca: 'client certificates are not checked',
  ciphers: 'TLS ciphers are Node\'s defaults',
  protocols: 'TLS protocol versions are Node\'s defaults',
  hostnames: 'one hostname per listener (`hostname`)',
  senders: 'the sender is not checked against the authenticated user',
};

function iface(word: string): Interface {
  if (LOOPBACK.has(word)) return { kind: 'loopback' };
  if (ALL.has(word)) return { kind: 'all' };
  return { kind: 'named', name: word };
}

function setTls(c: Cursor, l: ListenDecl, mode: ListenDecl['tls'], at: { line: number; col: number; text: string }): void {
  if (l.tls !== 'none') throw c.error({ kind: 'word', ...at }, 'TLS mode already given');
  l.tls = mode;
}

/** Parses a `listen` statement: one listener, two for an old `secure` without a port, none for `listen on socket` (reported). */
export function parseListen(c: Cursor, findings: Findings): ListenDecl[] {
  const start = c.next(); // listen
  c.expect('on');
  if (c.accept('socket')) {
    findings.dropped(start, c.text(), 'the local enqueuer socket has no kubemta equivalent (clients in the pod use a Listener on 127.0.0.1)');
    return [];
  }
  const first = c.peek();
  let ifc: Interface = { kind: 'missing' };
  if (first && !c.is('inet4') && !c.is('inet6')) ifc = iface(c.value('an interface').text);
  const l: ListenDecl = { text: c.text(0, 8), line: start.line, col: start.col, iface: ifc, family: 'any', tls: 'none', pki: [], proxyV2: false };
  let secure = false;
  while (!c.done()) {
    const t = c.next();
    const word = t.kind === 'word' ? t.text : '';
    switch (word) {
      case 'inet4':
      case 'inet6':
        l.family = word;
        break;
      case 'port': {
        const p = c.value('a port');
        const n = /^\d+$/.test(p.text) ? Number(p.text) : SERVICE_PORTS[p.text];
        if (!n || n > 65535) throw c.error(p, `invalid port "${p.text}"`);
        l.port = n;
        break;
      }
      case 'tls':
        setTls(c, l, 'starttls', t);
        break;
      case 'tls-require':
        setTls(c, l, 'starttls-required', t);
        break;
      case 'smtps':
        setTls(c, l, 'implicit', t);
        break;
      case 'secure':
        setTls(c, l, 'starttls', t);
        secure = true;
        break;
      case 'verify':
        findings.dropped(t, 'verify', 'client certificates are not required or checked');
        break;
      case 'pki':
        l.pki.push(c.value('a pki name').text.toLowerCase());
        break;
      case 'auth':
      case 'auth-optional':
        if (l.auth) throw c.error(t, 'auth already given');
        l.auth = { required: word === 'auth', ...(c.isPunct('<') || c.isPunct('{') ? { table: c.ref('a credentials table') } : {}) };
        break;
      case 'tag':
        l.tag = c.value('a tag').text;
        break;
      case 'hostname':
        l.hostname = c.value('a hostname').text;
        break;
      case 'proxy-v2':
        l.proxyV2 = true;
        break;
      case 'masquerade':
        findings.dropped(t, 'masquerade', 'the From header is never rewritten');
        break;
      default:
        if (DROPPED_FLAGS[word]) findings.dropped(t, word, DROPPED_FLAGS[word]);
        else if (DROPPED_WITH_ARG[word]) {
          findings.dropped(t, `${word} ${refText(c.ref('a value'))}`, DROPPED_WITH_ARG[word]);
        } else throw c.error(t, `unknown listen option "${t.text}"`);
    }
  }
  if (!secure || l.port) return [l];
  // old `secure` without a port: STARTTLS on 25 and SMTPS on 465, as OpenSMTPD ≤ 5.x created them
  return [l, { ...l, tls: 'implicit', port: 465 }];
}
