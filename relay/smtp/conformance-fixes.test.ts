// The conformance fixes through real clients (raw TCP, Python smtplib): what the differential test can
// only see as reply classes, checked here on what gets queued.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { python, RawSmtp, startTestRelay, tempDir } from '../../test/harness.ts';
import { differentialConfig } from '../../test/conformance-config.ts';

describe('conformance fixes through real clients', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let t: Awaited<ReturnType<typeof startTestRelay>>;
  const content = (id: string) => readFile(join(dir, 'queue', 'messages', id), 'latin1');

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const config = differentialConfig();
    (config.rules as unknown[]).push({ from: 'any', for: { domain: 'xn--bcher-kva.test' }, action: 'relay' });
    (config.actions as Record<string, unknown>).relay = { type: 'relay' };
    (config.listeners as unknown[]).push({ name: 'proxied', address: '127.0.0.1', port: 0, tls: 'none', proxyProtocol: { trustedNetworks: ['127.0.0.0/8'] } });
    t = await startTestRelay(dir, config);
  });
  after(async () => {
    await t.relay.stop();
    await cleanup();
  });

  it('removes the leading dot of every DATA line, not only of "..": .bar arrives as bar (RFC 5321 4.5.2), raw TCP', async () => {
    const c = await RawSmtp.open(t.port('plain'));
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<s@y.test>');
    await c.command('RCPT TO:<a@x.test>');
    assert.match(await c.command('DATA'), /^354/);
    // one write, and then the same split so a dot ends a chunk
    c.send('Subject: dots\r\n\r\n.bar\r\n..baz\r\n...\r\nx.y\r\n.');
    await new Promise((r) => setTimeout(r, 100));
    c.send('end\r\n.\r\n');
    const done = await c.reply();
    c.end();
    const id = /queued as (\S+)/.exec(done)?.[1];
    assert.ok(id, done);
    const body = (await content(id!)).split('\r\n\r\n').slice(1).join('\r\n\r\n');
    assert.equal(body, 'bar\r\n.baz\r\n..\r\nx.y\r\nend\r\n');
  });

  it('also when the content comes in the same write as DATA (improper pipelining), raw TCP', async () => {
    const c = await RawSmtp.open(t.port('plain'));
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<s@y.test>');
    await c.command('RCPT TO:<a@x.test>');
    c.send('DATA\r\nSubject: dots\r\n\r\n.bar\r\n.\r\n');
    assert.match(await c.reply(), /^354/);
    const done = await c.reply();
    c.end();
    const id = /queued as (\S+)/.exec(done)?.[1];
    assert.ok(id, done);
    assert.match(await content(id!), /\r\n\r\nbar\r\n$/);
  });

  it('takes an A-label address without SMTPUTF8 exactly as sent (Python smtplib)', async () => {
    const r = await python(
      `import smtplib,sys
s=smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='py.test'); s.ehlo()
print(*s.mail('s@xn--bcher-kva.test'))
print(*s.rcpt('friend@xn--bcher-kva.test'))
print(*s.rcpt('a@x.test'))
code,msg=s.data(b'Subject: idn\\r\\n\\r\\nhi\\r\\n')
print(code, msg.decode())
s.quit()`,
      [String(t.port('plain'))],
    );
    const lines = r.stdout.trim().split('\n');
    assert.match(lines[0] ?? '', /^250 /, r.stdout + r.stderr);
    assert.match(lines[1] ?? '', /^250 /, r.stdout + r.stderr);
    const id = /queued as (\S+)/.exec(lines[3] ?? '')?.[1];
    assert.ok(id, r.stdout);
    const mail = t.relay.relay.queue.get(id!);
    assert.equal(mail?.envelope.from, 's@xn--bcher-kva.test');
    assert.equal(mail?.envelope.smtputf8, false);
    assert.deepEqual(mail?.envelope.recipients.map((x) => x.rcpt).sort(), ['a@x.test', 'friend@xn--bcher-kva.test']);
  });

  it('refuses unknown parameters (555 5.5.4), junk after the address, MAIL FROM :<>, arguments to RSET/DATA, 8-bit EHLO (Python smtplib)', async () => {
    const r = await python(
      `import smtplib,sys
s=smtplib.SMTP('127.0.0.1', int(sys.argv[1]), local_hostname='py.test')
for line in [b'EHLO cli\\xe9nt.test', b'EHLO client.test', b'MAIL FROM:<s@y.test> FOO=BAR', b'MAIL FROM:<s@y.test> junk', b'MAIL FROM :<s@y.test>', b'RSET now', b'HELP MAIL', b'MAIL FROM:<s@y.test>', b'RCPT TO:<a@x.test> NOTIFY=NEVER', b'RCPT TO:<a@x.test>', b'DATA now']:
    s.sock.sendall(line + b'\\r\\n'); print(*s.getreply())`,
      [String(t.port('plain'))],
    );
    const got = r.stdout.trim().split('\n').map((l) => l.slice(0, 3) + ' ' + (/b'([245]\.\d+\.\d+)/.exec(l)?.[1] ?? ''));
    assert.deepEqual(got, ['501 5.5.2', '250 ', '555 5.5.4', '555 5.5.4', '501 5.5.4', '501 5.5.4', '501 5.5.4', '250 2.1.0', '555 5.5.4', '250 2.1.5', '501 5.5.4'], r.stdout + r.stderr);
  });

  it('gives smtp-server\'s own refusals an enhanced status code too (raw TCP)', async () => {
    const c = await RawSmtp.open(t.port('plain'));
    assert.match(await c.command('EHLO'), /^501 5\.5\.\d /);
    assert.match(await c.command('HELO'), /^501 5\.5\.\d /);
    assert.match(await c.command('FOOBAR'), /^500 5\.5\.\d /);
    assert.match(await c.command('QUIT'), /^221 2\.0\.0 /);
    c.end();
  });

  const afterProxyHeader = async (header: Buffer | string) => {
    const c = await RawSmtp.connect(t.port('proxied'));
    c.send(header);
    return c;
  };

  it('answers a malformed PROXY v1 line in SMTP (421 4.7.0), not with IMAP\'s "* BAD" (raw TCP)', async () => {
    for (const bad of ['PROXY TCP4 198.51.100.9\r\n', 'PROXY TCP4 2001:db8::1 127.0.0.1 4000 25\r\n', 'PROXY TCP4 198.51.100.9 127.0.0.1 99999 25\r\n', 'PROXY TCP4 198.51.100.9 127.0.0.1 4000 25\n']) {
      const c = await afterProxyHeader(bad);
      const r = await c.next(3000);
      c.end();
      assert.match(r, /^421 4\.7\.0 Invalid PROXY header: /, JSON.stringify(bad));
    }
    // v2 with an unknown command: the same kind of answer
    const v2 = Buffer.concat([Buffer.from([0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a]), Buffer.from([0x25, 0x11, 0, 12]), Buffer.alloc(12)]);
    const c = await afterProxyHeader(v2);
    assert.match(await c.next(3000), /^421 4\.7\.0 Invalid PROXY header: /);
    c.end();
  });

  it('writes an IPv6 client into Received: as an RFC 5321 address literal, [IPv6:2001:db8::7] (raw TCP, PROXY v1)', async () => {
    const c = await afterProxyHeader('PROXY TCP6 2001:db8::7 2001:db8::1 40000 25\r\n');
    assert.match(await c.reply(), /^220 /);
    await c.command('EHLO client.test');
    await c.command('MAIL FROM:<s@y.test>');
    await c.command('RCPT TO:<a@x.test>');
    await c.command('DATA');
    const done = await c.command('Subject: v6\r\n\r\nhi\r\n.');
    c.end();
    const id = /queued as (\S+)/.exec(done)?.[1];
    assert.ok(id, done);
    assert.match(await content(id!), /^Received: from client\.test \(\[IPv6:2001:db8::7\]\)\r\n/m);
  });
});
