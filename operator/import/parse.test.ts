// smtpd.conf reading: the lexer (quotes, comments, continuation, macros, tables), both grammars into one
// model, and syntax errors that name the line and column.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Findings, ImportSyntaxError } from './findings.ts';
import { parseSmtpdConf } from './parse.ts';
import { tokenize } from './tokenizer.ts';

const words = (text: string) => tokenize(text).map((s) => s.tokens.map((t) => t.text));

function parse(text: string) {
  const findings = new Findings();
  const conf = parseSmtpdConf(text, 'smtpd.conf', findings);
  return { conf, findings: findings.sorted() };
}

function syntaxError(text: string): ImportSyntaxError {
  try {
    parse(text);
  } catch (err) {
    if (err instanceof ImportSyntaxError) return err;
    throw err;
  }
  assert.fail('no syntax error');
}

describe('operator/import tokenizer', () => {
  it('reads quotes, comments, table refs and braces spanning lines', () => {
    assert.deepEqual(words('pki post key \'/etc/ssl/a b\' # a comment\n\n table t { a,\n  b }\naccept for domain "x # y" virtual <v>\n'), [
      ['pki', 'post', 'key', '/etc/ssl/a b'],
      ['table', 't', '{', 'a', ',', 'b', '}'],
      ['accept', 'for', 'domain', 'x # y', 'virtual', '<', 'v', '>'],
    ]);
  });

  it('joins lines ending in a backslash and keeps each token\'s own line and column', () => {
    const [st] = tokenize('listen on all \\\n\tport 587 tls\n');
    assert.deepEqual(st.tokens.map((t) => [t.text, t.line, t.col]), [['listen', 1, 1], ['on', 1, 8], ['all', 1, 11], ['port', 2, 2], ['587', 2, 7], ['tls', 2, 11]]);
  });

  it('expands macros outside quotes, defined before use; not inside quotes', () => {
    assert.deepEqual(words('lan = "192.168.0.1 port 25"\nlisten on $lan tag "$lan"\n'), [['listen', 'on', '192.168.0.1', 'port', '25', 'tag', '$lan']]);
    const err = syntaxError('listen on $nope\n');
    assert.deepEqual([err.line, err.col], [1, 11]);
    assert.match(err.message, /^smtpd\.conf:1:11: macro "nope" is not defined$/);
  });

  it('refuses an unterminated string and an unclosed brace, at their place', () => {
    assert.match(syntaxError('table a file:/x\npki p key "/etc/x\n').message, /^smtpd\.conf:2:11: unterminated quoted string$/);
    assert.match(syntaxError('table t { a, b\n').message, /missing "\}"/);
  });
});

describe('operator/import parse', () => {
  it('reads the old grammar: accept rules get their own action', () => {
    const { conf } = parse([
      'table aliases db:/etc/aliases.db',
      'accept for local alias <aliases> deliver to mbox',
      'accept from any for domain \'example.org\' virtual <v> deliver to maildir',
      'accept tagged remote for any relay via smtps://label@mx.example.net auth <secrets> expire 2d',
      'limit mta inet4',
      'max-message-size 20M',
      'expire 5d',
    ].join('\n'));
    const [local, dom, relay] = conf.rules;
    assert.equal(local.grammar, 'old');
    assert.deepEqual([local.from.kind, local.for.kind], ['local', 'local']);
    assert.equal(local.decision.kind === 'action' && local.decision.action.method, 'mbox');
    assert.deepEqual(local.decision.kind === 'action' && local.decision.action.alias, { kind: 'table', name: 'aliases', line: 2, col: 24 });
    assert.deepEqual(dom.for.value, { kind: 'inline', list: ['example.org'], map: [], line: 3, col: 28 });
    assert.equal(relay.tag?.value, 'remote');
    assert.equal(relay.decision.kind === 'action' && relay.decision.action.relay.host, 'smtps://label@mx.example.net');
    assert.equal(relay.decision.kind === 'action' && relay.decision.action.ttlSeconds, 2 * 86400);
    assert.equal(conf.mtaFamily?.family, 'inet4');
    assert.equal(conf.maxMessageBytes?.value, 20 * 1024 * 1024);
    assert.equal(conf.queueTtlSeconds?.value, 5 * 86400);
    assert.equal(conf.tables.get('aliases')?.backend, 'db');
  });

  it('reads the current grammar: actions by name, match options, smtp/mta/queue settings', () => {
    const { conf } = parse([
      'action "lmtp" lmtp "127.0.0.1:24" rcpt-to virtual <users>',
      'action relay relay host smtp+tls://mx.example.net:587 helo out.example.org tls no-verify',
      'match from src { 10.0.0.0/8, 192.168.0.0/16 } for any action relay',
      'match auth from any for any action "relay"',
      'match for domain <domains> action "lmtp"',
      'mta limit inet6',
      'smtp max-message-size 1048576',
      'smtp limit max-rcpt 50',
      'queue ttl 3d',
      'smtp sub-addr-delim +',
      'smtp ciphers HIGH',
    ].join('\n'));
    assert.deepEqual(conf.actions.get('lmtp')?.lmtp, { destination: '127.0.0.1:24', rcptTo: true });
    assert.deepEqual(conf.actions.get('relay')?.relay, { host: 'smtp+tls://mx.example.net:587', helo: 'out.example.org', tls: 'required' });
    const [src, auth, dom] = conf.rules;
    assert.deepEqual(src.from.value, { kind: 'inline', list: ['10.0.0.0/8', '192.168.0.0/16'], map: [], line: 3, col: 16 });
    assert.ok(auth.auth && !auth.auth.negated);
    assert.deepEqual([dom.from.kind, dom.for.kind], ['local', 'domain']);
    assert.equal(conf.mtaFamily?.family, 'inet6');
    assert.deepEqual([conf.maxMessageBytes?.value, conf.maxRecipients?.value, conf.queueTtlSeconds?.value], [1048576, 50, 3 * 86400]);
    assert.equal(conf.subaddressDelimiter?.value, '+');
  });

  it('reads listen options of both grammars; `secure` without a port is 25 (STARTTLS) and 465 (SMTPS)', () => {
    const { conf } = parse([
      'listen on localhost',
      'listen on egress inet6 port smtps smtps pki a pki b auth-optional <creds> hostname mx.example.org proxy-v2',
      'listen on em0 secure pki a',
    ].join('\n'));
    const [lo, out, s25, s465] = conf.listeners;
    assert.deepEqual(lo.iface, { kind: 'loopback' });
    assert.deepEqual([out.iface.kind, out.family, out.port, out.tls, out.pki, out.auth?.required, out.proxyV2], ['all', 'inet6', 465, 'implicit', ['a', 'b'], false, true]);
    assert.deepEqual([s25.tls, s25.port, s465.tls, s465.port], ['starttls', undefined, 'implicit', 465]);
  });

  it('reads `srs key`, `srs key backup`, `srs ttl` and the relay action option `srs`', () => {
    const { conf, findings } = parse([
      'srs key "first-secret-0123456789"',
      'srs key backup "older-secret-0123456789"',
      'srs ttl 7d',
      'action "out" relay srs helo out.example.org',
    ].join('\n'));
    assert.deepEqual(conf.srs, {
      key: { value: 'first-secret-0123456789', line: 1, col: 1 },
      backup: { value: 'older-secret-0123456789', line: 2, col: 1 },
      ttl: { seconds: 7 * 86400, line: 3, col: 1 },
    });
    assert.deepEqual(conf.actions.get('out')!.relay, { srs: { line: 4, col: 20 }, helo: 'out.example.org' });
    assert.deepEqual(findings, []);
    assert.equal(parse('srs key "backup"').conf.srs?.key?.value, 'backup', 'a quoted word is the secret');
    assert.match(syntaxError('srs salt "x"\n').message, /smtpd\.conf:1:5: unknown srs option "salt"/);
    assert.match(syntaxError('srs key\n').message, /expected a secret/);
    assert.match(syntaxError('srs key "a" "b"\n').message, /unexpected "b"/);
  });

  it('reports known statements and options that have no kubemta equivalent, with their line', () => {
    const { findings } = parse([
      'queue compression',
      'filter "rspamd" proc-exec "filter-rspamd"',
      'listen on all tls pki a mask-src no-dsn filter "rspamd" senders <s> masquerade',
      'action "a" maildir "~/Mail" junk userbase <u>',
      'bounce warn-interval 1h, 6h',
      'include "/etc/mail/smtpd.local"',
      'mta limit for domain example.com max-conn 2',
    ].join('\n'));
    const got = findings.map((f) => `${f.line}:${f.kind}:${f.what}`);
    assert.deepEqual(got, [
      '1:dropped:queue compression',
      '2:dropped:filter "rspamd" proc-exec "filter-rspamd"',
      '3:dropped:mask-src',
      '3:dropped:no-dsn',
      '3:dropped:filter rspamd',
      '3:dropped:senders <s>',
      '3:dropped:masquerade',
      '4:changed:maildir ~/Mail',
      '4:dropped:junk',
      '4:dropped:userbase <u>',
      '5:dropped:bounce warn-interval 1h , 6h',
      '6:dropped:include "/etc/mail/smtpd.local"',
      '7:dropped:mta limit for domain example.com max-conn 2',
    ]);
  });

  it('stops at unknown syntax with the line and column of the token at fault', () => {
    const cases: [string, number, number, RegExp][] = [
      ['table a file:/x\nfrobnicate all\n', 2, 1, /unknown statement "frobnicate"/],
      ['listen on all port 25 tls-sometimes\n', 1, 23, /unknown listen option "tls-sometimes"/],
      ['listen on all port 99999\n', 1, 20, /invalid port "99999"/],
      ['action "x" deliver\n', 1, 12, /unknown delivery method "deliver"/],
      ['action "x" mbox virtual <t> frob\n', 1, 29, /unknown option "frob" for a mbox action/],
      ['match from any for domain "a" action "nope"\n', 1, 38, /no action named "nope"/],
      ['match from anywhere for any action "x"\n', 1, 12, /unknown source "anywhere"/],
      ['accept from any for domain <d> deliver into mbox\n', 1, 40, /expected "to", found "into"/],
      ['action "r" relay\nmatch for any action "r" trailing\n', 2, 26, /unexpected "trailing"/],
      ['smtp max-message-size lots\n', 1, 23, /invalid size "lots"/],
      ['queue ttl forever\n', 1, 11, /invalid delay "forever"/],
      ['accept for domain <d\n', 1, 21, /expected ">" after <d/],
      ['{ a }\n', 1, 1, /a statement cannot start with "\{"/],
    ];
    for (const [text, line, col, re] of cases) {
      const err = syntaxError(text);
      assert.deepEqual([err.line, err.col], [line, col], `${text.trim()}: ${err.message}`);
      assert.match(err.message, re);
      assert.ok(err.message.startsWith(`smtpd.conf:${line}:${col}: `));
    }
  });
});
