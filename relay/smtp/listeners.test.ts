// The relay's SMTP intake through real sockets and real clients: listener TLS modes, AUTH, refusals.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { connect as tlsConnect } from 'node:tls';
import { baseConfig, python, RawSmtp, run, startTestRelay, swaks, tempDir } from '../../test/harness.ts';
import { hashPassword } from '../auth/hash.ts';
import { until } from '../../test/until.ts';

const SHA512_FOR_SECRET6 = async () => (await python("import crypt; print(crypt.crypt('secret6', crypt.mksalt(crypt.METHOD_SHA512)))")).stdout.trim();

describe('relay/smtp listeners', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let t: Awaited<ReturnType<typeof startTestRelay>>;
  const queued = async () => (await readdir(join(dir, 'queue', 'messages'))).length;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const config = baseConfig({
      tables: { remote: { type: 'credentials', entries: { max: await hashPassword('demo-password', 4), moritz: await SHA512_FOR_SECRET6() } } },
      listeners: [
        { name: 'plain', address: '127.0.0.1', port: 0, tls: 'none' },
        { name: 'inbound', address: '127.0.0.1', port: 0, tls: 'starttls', pki: 'post', hostname: 'post.example.org' },
        { name: 'submission', address: '127.0.0.1', port: 0, tls: 'starttls-required', pki: 'mail', hostname: 'mail.example.org', auth: 'remote', tag: 'remote' },
        { name: 'smtps', address: '127.0.0.1', port: 0, tls: 'implicit', pki: 'mail', auth: 'remote' },
        { name: 'optional', address: '127.0.0.1', port: 0, tls: 'starttls', pki: 'post', auth: 'remote' },
        { name: 'proxied', address: '127.0.0.1', port: 0, tls: 'none', proxyProtocol: { trustedNetworks: ['127.0.0.0/8'] } },
      ],
      limits: { maxRecipients: 3, maxMessageBytes: 20000, authFailures: 3, maxConnectionsPerClient: 40 },
    });
    t = await startTestRelay(dir, config);
  });
  after(async () => {
    await t.relay.stop();
    await cleanup();
  });

  it('refuses to relay for an unauthenticated client with 550 5.7.1', async () => {
    const r = await swaks(t.port('plain'), ['--to', 'someone@example.net', '--from', 'a@example.org', '--quit-after', 'RCPT']);
    assert.match(r.transcript, /550 5\.7\.1 Relaying denied/);
  });

  it('does not offer AUTH before TLS, and refuses it with 530 5.7.0 on a STARTTLS listener', async () => {
    const c = await RawSmtp.open(t.port('optional'));
    const ehlo = await c.command('EHLO client.test');
    assert.match(ehlo, /STARTTLS/);
    assert.doesNotMatch(ehlo, /AUTH/);
    assert.match(await c.command('AUTH PLAIN AG1heABkZW1vLXBhc3N3b3Jk'), /^5\d\d 5\.7\.0 /);
    c.end();
  });

  it('on starttls-required, allows only EHLO/HELO/STARTTLS/NOOP/RSET/QUIT before TLS (530 5.7.0)', async () => {
    const c = await RawSmtp.open(t.port('submission'));
    assert.match(await c.command('EHLO client.test'), /^250/);
    assert.match(await c.command('NOOP'), /^250/);
    assert.match(await c.command('RSET'), /^250/);
    assert.match(await c.command('MAIL FROM:<a@example.org>'), /^530 5\.7\.0 Must issue a STARTTLS command first/);
    assert.match(await c.command('RCPT TO:<b@example.org>'), /^530 5\.7\.0/);
    assert.match(await c.command('DATA'), /^530 5\.7\.0/);
    assert.match(await c.command('AUTH LOGIN'), /^530 5\.7\.0/);
    assert.match(await c.command('VRFY max'), /^530 5\.7\.0/);
    c.end();
  });

  it('delivers an authenticated submission after STARTTLS with a bcrypt user (swaks), tagging it', async () => {
    const before = await queued();
    const r = await swaks(t.port('submission'), ['-tls', '--tls-sni', 'mail.example.org', '--auth', 'PLAIN', '--auth-user', 'max', '--auth-password', 'demo-password', '--from', 'max@example.org', '--to', 'friend@example.net']);
    assert.equal(r.code, 0, r.transcript);
    const id = /250 2\.0\.0 Ok: queued as ([0-9a-f]{20})/.exec(r.transcript)?.[1];
    assert.ok(id, r.transcript);
    assert.equal(await queued(), before + 1);
    const mail = t.relay.relay.queue.get(id!);
    assert.equal(mail?.envelope.tag, 'remote');
    assert.equal(mail?.envelope.user, 'max');
    assert.deepEqual(mail?.envelope.recipients.map((r) => r.rcpt), ['friend@example.net']);
  });

  it('accepts AUTH LOGIN against an OpenSMTPD-style $6$ SHA-512 crypt hash (Python smtplib)', async () => {
    const r = await python(
      `import smtplib,ssl,sys
ctx=ssl.create_default_context(); ctx.check_hostname=False; ctx.verify_mode=ssl.CERT_NONE
s=smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='py.test'); s.starttls(context=ctx); s.ehlo('py.test')
s.login('moritz','secret6')
print(s.sendmail('moritz@example.org',['x@example.com'],'Subject: hi\\r\\n\\r\\nbody\\r\\n'))
s.quit()`,
      [String(t.port('submission'))],
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout.trim(), '{}');
  });

  it('answers a wrong password with 535 5.7.8 and cuts the client off after the failure limit (421 4.7.0)', async () => {
    const results: string[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await swaks(t.port('smtps'), ['--tlsc', '--auth', 'LOGIN', '--auth-user', 'max', '--auth-password', `wrong${i}`, '--from', 'max@example.org', '--to', 'x@example.net', '--quit-after', 'AUTH']);
      results.push(r.transcript);
    }
    assert.match(results[0], /535 5\.7\.8/);
    assert.match(results[3], /421 4\.7\.0 Too many failed AUTH attempts/);
    // the right password is refused too while the window lasts: a guesser learns nothing
    const ok = await swaks(t.port('smtps'), ['--tlsc', '--auth', 'LOGIN', '--auth-user', 'max', '--auth-password', 'demo-password', '--quit-after', 'AUTH']);
    assert.match(ok.transcript, /421 4\.7\.0/);
    t.relay.relay.authLimiter.clear();
  });

  it('implicit TLS: the first byte is a TLS handshake, and SNI picks the certificate per hostname', async () => {
    const subjectFor = (servername: string) =>
      new Promise<string>((resolve, reject) => {
        const s = tlsConnect({ host: '127.0.0.1', port: t.port('smtps'), servername, rejectUnauthorized: false }, () => {
          const cn = s.getPeerCertificate().subject.CN;
          s.destroy();
          resolve(String(cn));
        });
        s.on('error', reject);
      });
    assert.equal(await subjectFor('post.example.org'), 'post.example.org');
    assert.equal(await subjectFor('mail.example.org'), 'mail.example.org');
    // unknown names get the listener's own pki
    assert.equal(await subjectFor('other.example.com'), 'mail.example.org');
  });

  it('STARTTLS with openssl s_client presents the listener certificate for its hostname', async () => {
    const r = await run('sh', ['-c', `printf 'EHLO x\\r\\nQUIT\\r\\n' | openssl s_client -starttls smtp -connect 127.0.0.1:${t.port('inbound')} -servername post.example.org -ign_eof 2>&1`]);
    assert.match(r.stdout, /subject=CN ?= ?post\.example\.org/);
    assert.match(r.stdout, /250-kubemta|250-post\.example\.org|250 /);
  });

  it('discards commands pipelined behind STARTTLS: they are never executed inside the TLS session', async () => {
    const c = await RawSmtp.open(t.port('inbound'));
    await c.command('EHLO x');
    c.send('STARTTLS\r\nMAIL FROM:<evil@example.org>\r\n');
    assert.match(await c.reply(), /^220/);
    const { tls, read } = await c.upgrade('post.example.org');
    tls.write('RCPT TO:<x@example.org>\r\n');
    await until('the reply to RCPT', () => read().includes('\r\n'), 5000).catch(() => undefined);
    // had MAIL FROM survived the handshake, RCPT would be 550 5.7.1 (policy) instead of a sequence error
    assert.match(read(), /^503 /);
    tls.destroy();
  });

  it('refuses a bare LF in a command line (500 5.5.2) and closes the session', async () => {
    const c = await RawSmtp.open(t.port('plain'));
    c.send('EHLO x\n');
    assert.match(await c.reply(), /^500 5\.5\.2 Bare CR or LF/);
    assert.equal(await c.reply(), '');
    assert.ok(c.closed);
  });

  it('refuses a bare CR in a command line', async () => {
    const c = await RawSmtp.open(t.port('plain'));
    c.send('HELO x\rMAIL FROM:<a@b>\r\n');
    assert.match(await c.reply(), /^500 5\.5\.2/);
    c.end();
  });

  it('refuses DATA with a smuggling attempt (bare LF before the dot) with 554 5.6.0 and queues nothing', async () => {
    const before = await queued();
    const r = await python(
      `import smtplib,ssl,sys
ctx=ssl.create_default_context(); ctx.check_hostname=False; ctx.verify_mode=ssl.CERT_NONE
s=smtplib.SMTP('127.0.0.1', int(sys.argv[1])); s.starttls(context=ctx); s.ehlo('py'); s.login('max','demo-password')
s.mail('max@example.org'); s.rcpt('a@example.net')
code,_=s.docmd('DATA')
s.send(b'Subject: x\\r\\n\\r\\nline\\n.\\r\\nMAIL FROM:<evil@example.org>\\r\\n.\\r\\n')
print(s.getreply())`,
      [String(t.port('submission'))],
    );
    assert.match(r.stdout, /554.*5\.6\.0 Message contains a bare CR or LF/, r.stdout + r.stderr);
    assert.equal(await queued(), before);
  });

  it('refuses a mail that has passed too many hops (a loop between MTAs) with 554 5.4.6, and takes one hop less', async () => {
    const before = await queued();
    const send = (hops: number) =>
      python(
        `import smtplib,ssl,sys
ctx=ssl.create_default_context(); ctx.check_hostname=False; ctx.verify_mode=ssl.CERT_NONE
s=smtplib.SMTP('127.0.0.1', int(sys.argv[1])); s.starttls(context=ctx); s.ehlo('py'); s.login('max','demo-password')
hops=''.join('Received: from hop%d.example.net by hop%d.example.net;\\r\\n\\tThu, 26 Nov 2026 01:00:00 +0000\\r\\n' % (i, i+1) for i in range(int(sys.argv[2])))
try:
    s.sendmail('max@example.org', ['a@example.net'], hops + 'Subject: looping\\r\\n\\r\\nround and round\\r\\n')
    print('250')
except smtplib.SMTPDataError as e:
    print(e.smtp_code, e.smtp_error.decode())`,
        [String(t.port('submission')), String(hops)],
      );
    // limits.maxHops is 50 by default, our own Received: field included
    const over = await send(50);
    assert.match(over.stdout, /^554 5\.4\.6 Too many hops/, over.stdout + over.stderr);
    assert.equal(await queued(), before, 'nothing queued');
    const under = await send(49);
    assert.match(under.stdout, /^250/, under.stdout + under.stderr);
  });

  it('refuses a non-ASCII address unless MAIL FROM declared SMTPUTF8 (553 5.6.7), accepts it when declared', async () => {
    const r = await python(
      `import smtplib,ssl,sys
ctx=ssl.create_default_context(); ctx.check_hostname=False; ctx.verify_mode=ssl.CERT_NONE
s=smtplib.SMTP('127.0.0.1', int(sys.argv[1])); s.starttls(context=ctx); s.ehlo('py'); s.login('max','demo-password')
s.mail('max@example.org')
s.sock.sendall('RCPT TO:<jörg@example.net>\\r\\n'.encode('utf-8')); print(*s.getreply())
s.rset()
s.sock.sendall('MAIL FROM:<jörg@example.org>\\r\\n'.encode('utf-8')); print(*s.getreply())
s.rset()
print(*s.mail('max@example.org', ['SMTPUTF8']))
print(*s.rcpt('jörg@example.net'))`,
      [String(t.port('submission'))],
    );
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0], /^553 b'5\.6\.7 A non-ASCII address needs MAIL FROM with the SMTPUTF8 parameter/, r.stdout + r.stderr);
    assert.match(lines[1], /^553 b'5\.6\.7 /);
    assert.match(lines[2], /^250 /);
    assert.match(lines[3], /^250 /, r.stdout + r.stderr);
  });

  it('enforces SIZE: declared too big is refused at MAIL, actual too big gets 552 5.3.4 and nothing is queued', async () => {
    const before = await queued();
    const big = 'x'.repeat(100) + '\r\n';
    const r = await python(
      `import smtplib,ssl,sys
ctx=ssl.create_default_context(); ctx.check_hostname=False; ctx.verify_mode=ssl.CERT_NONE
s=smtplib.SMTP('127.0.0.1', int(sys.argv[1])); s.starttls(context=ctx); s.ehlo('py'); s.login('max','demo-password')
print(s.mail('max@example.org', ['SIZE=999999']))
s.rset(); s.mail('max@example.org'); s.rcpt('a@example.net')
print(s.data(('Subject: big\\r\\n\\r\\n' + ${JSON.stringify(big)}*300).encode()))`,
      [String(t.port('submission'))],
    );
    assert.match(r.stdout, /\(552/, r.stdout + r.stderr);
    assert.match(r.stdout, /552, b'5\.3\.4/);
    assert.equal(await queued(), before);
  });

  it('limits recipients per message with 452 4.5.3', async () => {
    const r = await swaks(t.port('submission'), ['-tls', '--auth-user', 'max', '--auth-password', 'demo-password', '--from', 'max@example.org', '--to', 'a@x.net,b@x.net,c@x.net,d@x.net', '--quit-after', 'RCPT']);
    assert.match(r.transcript, /452 4\.5\.3 Too many recipients/);
  });

  it('takes the client address from a PROXY v2 header sent by a trusted balancer', async () => {
    const c = await (async () => {
      const { connect } = await import('node:net');
      const sock = connect(t.port('proxied'), '127.0.0.1');
      await new Promise((r) => sock.once('connect', r));
      const sig = Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]);
      const body = Buffer.alloc(12);
      Buffer.from([203, 0, 113, 7]).copy(body, 0);
      Buffer.from([127, 0, 0, 1]).copy(body, 4);
      body.writeUInt16BE(40000, 8);
      body.writeUInt16BE(25, 10);
      const head = Buffer.concat([sig, Buffer.from([0x21, 0x11, 0, 12]), body]);
      sock.write(head);
      return sock;
    })();
    let got = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => (got += d));
    await until('the greeting', () => got.includes('\r\n'), 5000).catch(() => undefined);
    assert.match(got, /^220 /);
    const seen = [...t.relay.relay.clients.keys()];
    assert.ok(seen.includes('203.0.113.7'), `clients seen: ${seen.join(', ')}`);
    c.destroy();
  });

  it('answers a client that sends no PROXY header to a PROXY listener in SMTP (swaks), not smtp-server\'s "* BAD"', async () => {
    const r = await swaks(t.port('proxied'), ['--from', 'a@example.org', '--to', 'b@example.org', '--quit-after', 'CONNECT', '--timeout', '3']);
    // the PROXY header comes before any greeting, so a plain client talks first (QUIT after the timeout)
    assert.match(r.transcript, /421 4\.7\.0 Expected a PROXY protocol header/);
  });

  it('takes the client address from a PROXY v1 header (swaks --proxy)', async () => {
    const r = await swaks(t.port('proxied'), ['--from', 'a@example.org', '--to', 'b@example.org', '--quit-after', 'EHLO', '--proxy-version', '1', '--proxy-family', 'TCP4', '--proxy-source', '198.51.100.9', '--proxy-source-port', '4000', '--proxy-dest', '127.0.0.1', '--proxy-dest-port', '25']);
    assert.match(r.transcript, /<-  250/);
  });

  it('limits sessions per client address with 421 4.7.0', async () => {
    const open: RawSmtp[] = [];
    for (let i = 0; i < 40; i++) open.push(await RawSmtp.open(t.port('plain')));
    const { connect } = await import('node:net');
    const sock = connect(t.port('plain'), '127.0.0.1');
    let got = '';
    sock.setEncoding('utf8');
    sock.on('data', (d: string) => (got += d));
    await until('a reply', () => got.includes('\r\n'), 5000).catch(() => undefined);
    assert.match(got, /^421 4\.7\.0 Too many connections from your address/);
    sock.destroy();
    for (const c of open) c.end();
  });
});
