// What each next hop receives, end to end: mail goes into the relay with Python's smtplib (BODY=8BITMIME,
// SMTPUTF8 as a real client declares them) and leaves for Postfix's smtp-sink started with -8 (announces
// neither 8BITMIME nor SMTPUTF8) or for an smtp-server sink (announces both). The tests read the bytes
// each hop got: encodings, line lengths, MAIL FROM parameters, the DKIM signature (verified by mailauth
// against the public key), and the DSN a mail that cannot go gets.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import libqp from 'libqp';
import { baseConfig, python, startTestRelay, tempDir } from '../../../test/harness.ts';
import { startSink, type TestSink } from '../../../test/smtp-sink.ts';
import { smtpSinkMissing, startDumpingSink, type DumpingSink } from '../../../test/smtp-sink-dump.ts';
import { until } from '../../../test/until.ts';
import { freePort } from '../../../test/postfix.ts';

type Started = Awaited<ReturnType<typeof startTestRelay>>;

const SEND = `
import smtplib, sys
port, sender, rcpts, opts, path = sys.argv[1], sys.argv[2], sys.argv[3].split(','), [o for o in sys.argv[4].split(',') if o], sys.argv[5]
s = smtplib.SMTP('127.0.0.1', int(port))
s.ehlo('client.test')
refused = s.sendmail(sender, rcpts, open(path, 'rb').read(), mail_options=opts)
s.quit()
print(refused)
`;

const crlf = (s: string) => s.replace(/\r?\n/g, '\r\n');
/** The header section and body of a received message (CRLF lines). */
function split(raw: Buffer): { head: string; body: Buffer } {
  const i = raw.indexOf('\r\n\r\n');
  return { head: raw.subarray(0, i + 2).toString('latin1'), body: raw.subarray(i + 4) };
}
const lines = (b: Buffer) => b.toString('latin1').split('\r\n');

describe('relay/deliver/smtp: each next hop gets what it announced (8BITMIME, SMTPUTF8, line length)', { skip: smtpSinkMissing() }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let old: DumpingSink;
  let modern: TestSink;
  let t: Started;
  let publicKey = '';
  let file = 0;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    await writeFile(join(dir, 'dkim.key'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    publicKey = `v=DKIM1; k=rsa; p=${rsa.publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;
    old = await startDumpingSink(['-8']);
    modern = await startSink();
    t = await startTestRelay(
      dir,
      baseConfig({
        actions: {
          old: { type: 'relay', smarthost: `smtp://127.0.0.1:${old.port}` },
          modern: { type: 'relay', smarthost: `smtp://127.0.0.1:${modern.port}` },
        },
        rules: [
          { from: 'any', for: { domain: 'old.test' }, action: 'old' },
          { from: 'any', for: { domain: 'modern.test' }, action: 'modern' },
          // bounces to the senders (sender.test) arrive at the modern sink too
          { from: 'any', for: { domain: 'sender.test' }, action: 'modern' },
        ],
        outbound: {
          tls: 'none',
          retry: { minSeconds: 0.2, maxSeconds: 0.4 },
          dkim: [{ domain: 'signed.test', selector: 'k1', keyFile: 'dkim.key' }],
        },
      }),
    );
  });
  after(async () => {
    // the peers go whatever else fails: no smtp-sink is left behind
    try {
      await t?.relay.stop();
    } finally {
      await Promise.all([old?.close(), modern?.close()]);
      await cleanup();
    }
  });

  /** Sends `message` into the relay with smtplib; resolves once the relay took it. */
  async function send(from: string, to: string[], message: string | Buffer, options: string[] = []): Promise<void> {
    const path = join(dir, `msg${file++}.eml`);
    await writeFile(path, typeof message === 'string' ? Buffer.from(crlf(message), 'utf8') : message);
    const r = await python(SEND, [String(t.port('plain')), from, to.join(','), options.join(','), path]);
    assert.equal(r.code, 0, r.stderr);
  }
  async function fromOld(marker: string): Promise<{ mailArgs: string; message: Buffer }> {
    let found: { mailArgs: string; message: Buffer } | undefined;
    await until(`${marker} at the old hop`, async () => {
      found = (await old.received()).find((m) => m.message.includes(marker));
      return !!found;
    }, 10_000);
    // smtp-sink dumps LF lines; SMTP carried CRLF
    return { mailArgs: found!.mailArgs, message: Buffer.from(found!.message.toString('latin1').replace(/\n/g, '\r\n'), 'latin1') };
  }
  async function fromModern(marker: string) {
    await until(`${marker} at the modern hop`, () => modern.received.some((m) => m.data.includes(marker)), 10_000);
    return modern.received.find((m) => m.data.includes(marker))!;
  }
  async function verifies(message: Buffer): Promise<string[]> {
    const res = await dkimVerify(message, { resolver: async (name: string) => (name === 'k1._domainkey.signed.test' ? [[publicKey]] : Promise.reject(Object.assign(new Error('nx'), { code: 'ENOTFOUND' }))) });
    return res.results.map((r) => `${r.signingDomain} ${r.status.result}`);
  }
  const queueEmpty = async () => (await readdir(join(dir, 'queue', 'messages'))).length === 0;

  const text8 = (marker: string) => `From: Jörg <joerg@signed.test>\nTo: <x@old.test>\nSubject: ${marker}\nMIME-Version: 1.0\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nGrüße aus Köln, ${marker}.\nZweite Zeile mit Leerzeichen am Ende \n.Punkt am Anfang\n`;

  it('converts an 8-bit text body to quoted-printable for a hop without 8BITMIME, signed as sent', async () => {
    const marker = 'eightbit-old';
    await send('joerg@signed.test', ['x@old.test'], text8(marker).replace('From: Jörg', 'From: Joerg'), ['BODY=8BITMIME']);
    const got = await fromOld(marker);
    assert.doesNotMatch(got.mailArgs, /BODY=8BITMIME/, 'no BODY=8BITMIME to a hop that did not announce it');
    const { head, body } = split(got.message);
    assert.match(head, /^Content-Transfer-Encoding: quoted-printable\r$/m);
    assert.doesNotMatch(head, /^Content-Transfer-Encoding: 8bit/im);
    assert.ok(!/[\x80-\xff]/.test(got.message.toString('latin1')), 'only 7-bit bytes left the relay');
    assert.equal(libqp.decode(body.toString('latin1')).toString('utf8'), `Grüße aus Köln, ${marker}.\r\nZweite Zeile mit Leerzeichen am Ende \r\n.Punkt am Anfang\r\n`);
    assert.deepEqual(await verifies(got.message), ['signed.test pass'], 'the signature covers the converted mail');
  });

  it('sends the same mail unchanged, with BODY=8BITMIME, to a hop that announces 8BITMIME', async () => {
    const marker = 'eightbit-modern';
    await send('joerg@signed.test', ['x@modern.test'], text8(marker).replace('From: Jörg', 'From: Joerg'), ['BODY=8BITMIME']);
    const got = await fromModern(marker);
    assert.equal(got.mailArgs.BODY, '8BITMIME');
    assert.match(got.data.toString('utf8'), new RegExp(`^Content-Transfer-Encoding: 8bit\r$`, 'm'));
    assert.ok(got.data.includes(Buffer.from('Grüße aus Köln')), 'the 8-bit text as it was');
    assert.deepEqual(await verifies(got.data), ['signed.test pass']);
  });

  it('converts only the parts that need it in a multipart mail; base64 stays, 8bit-labelled ASCII becomes 7bit', async () => {
    const marker = 'multipart-old';
    const b64 = Buffer.from('binary \x00\xff data'.repeat(10), 'latin1').toString('base64').replace(/.{76}/g, '$&\n');
    const msg = `From: <a@signed.test>\nTo: <x@old.test>\nSubject: ${marker}\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b1"\nContent-Transfer-Encoding: 8bit\n\nThis is a multipart message.\n--b1\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nÄpfel und Birnen\n--b1\nContent-Type: text/plain; charset=us-ascii\nContent-Transfer-Encoding: 8bit\n\nplain ascii\n--b1\nContent-Type: application/octet-stream\nContent-Transfer-Encoding: base64\n\n${b64}\n--b1--\n`;
    await send('a@signed.test', ['x@old.test'], msg, ['BODY=8BITMIME']);
    const got = await fromOld(marker);
    const raw = got.message.toString('latin1');
    assert.ok(!/[\x80-\xff]/.test(raw), 'only 7-bit bytes');
    const parts = raw.split('--b1');
    assert.match(split(got.message).head, /^Content-Transfer-Encoding: 7bit\r$/m, 'the multipart relabelled 7bit');
    assert.match(parts[1], /Content-Transfer-Encoding: quoted-printable\r\n\r\n=C3=84pfel und Birnen\r\n$/);
    assert.match(parts[2], /Content-Transfer-Encoding: 7bit\r\n\r\nplain ascii\r\n$/);
    assert.equal(parts[3], `\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n${crlf(b64)}\r\n`, 'the base64 part byte for byte');
    assert.deepEqual(await verifies(got.message), ['signed.test pass']);
  });

  it('bounces a message/rfc822 part with 8-bit content (no encoding allowed) with 5.6.3 naming the hop and the part', async () => {
    const marker = 'rfc822-old';
    const msg = `From: <a@sender.test>\nTo: <x@old.test>\nSubject: ${marker}\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b2"\n\n--b2\nContent-Type: text/plain\n\nsee attached\n--b2\nContent-Type: message/rfc822\nContent-Transfer-Encoding: 8bit\n\nSubject: inner\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\nÜberall 8 Bit\n--b2--\n`;
    await send('a@sender.test', ['x@old.test'], msg, ['BODY=8BITMIME']);
    const dsn = await fromModern(`Subject: ${marker}`);
    assert.equal(dsn.from, '');
    const raw = dsn.data.toString('utf8');
    assert.match(raw, /^Status: 5\.6\.3\r$/m);
    assert.match(raw, /Conversion required and prohibited: part 3 \(message\/rfc822, 8bit\) has 8-bit content/);
    assert.match(raw, /\[127\.0\.0\.1\] does not announce 8BITMIME/);
    assert.equal((await old.received()).filter((m) => m.message.includes(marker)).length, 0, 'nothing reached the old hop');
    // the same mail goes as it is to a hop with 8BITMIME
    await send('a@sender.test', ['x@modern.test'], msg.replace(marker, `${marker}-modern`), ['BODY=8BITMIME']);
    const ok = await fromModern(`${marker}-modern`);
    assert.ok(ok.data.includes(Buffer.from('Überall 8 Bit')));
  });

  it("converts the relay's own DSN for a hop without 8BITMIME: its 8-bit parts (quoted original header) become quoted-printable", async () => {
    const marker = 'dsn-to-old';
    // the sender's domain is served by the old hop: the 5.6.3 bounce itself must be made 7-bit
    const msg = `From: <a@old.test>\nTo: <x@old.test>\nSubject: ${marker} Grüße\nMIME-Version: 1.0\nContent-Type: multipart/mixed; boundary="b3"\n\n--b3\nContent-Type: message/rfc822\n\nSubject: inner\n\nÜberall\n--b3--\n`;
    await send('a@old.test', ['x@old.test'], msg, ['BODY=8BITMIME']);
    const dsn = await fromOld(marker);
    const raw = dsn.message.toString('latin1');
    assert.ok(!/[\x80-\xff]/.test(raw), 'the DSN left 7-bit');
    assert.match(raw, /^Status: 5\.6\.3\r$/m);
    const quoted = raw.split(/^--/m).find((p) => /Content-Type: text\/rfc822-headers/.test(p))!;
    assert.match(quoted, /Content-Transfer-Encoding: quoted-printable/);
    assert.match(libqp.decode(quoted.slice(quoted.indexOf('\r\n\r\n') + 4)).toString('utf8'), new RegExp(`Subject: ${marker} Grüße`));
  });

  it('lets no line over 998 octets leave: a long body line is re-encoded, a long header folded, nothing lost', async () => {
    const marker = 'longlines-modern';
    const words = Array.from({ length: 250 }, (_, i) => `w${i}`).join(' ');
    const longBody = 'x'.repeat(2500);
    const msg = `From: <a@signed.test>\nTo: <x@modern.test>\nSubject: ${marker}\nX-Long: ${words}\n\nshort line\n${longBody}\nend\n`;
    await send('a@signed.test', ['x@modern.test'], msg);
    const got = await fromModern(marker);
    for (const l of lines(got.data)) assert.ok(Buffer.byteLength(l, 'latin1') <= 998, `a line of ${l.length} octets left the relay`);
    const { head, body } = split(got.data);
    const unfolded = head.replace(/\r\n(?=[ \t])/g, '');
    assert.match(unfolded, new RegExp(`^X-Long: ${words}\r$`, 'm'), 'the header unfolds to what was sent');
    assert.match(head, /^MIME-Version: 1\.0\r$/m);
    assert.match(head, /^Content-Transfer-Encoding: quoted-printable\r$/m);
    assert.equal(libqp.decode(body.toString('latin1')).toString('latin1'), `short line\r\n${longBody}\r\nend\r\n`);
    assert.deepEqual(await verifies(got.data), ['signed.test pass']);
  });

  it('bounces a UTF-8 envelope with 5.6.7 naming the hop that lacks SMTPUTF8, and relays it with SMTPUTF8 to one that has it', async () => {
    const marker = 'utf8-envelope';
    const msg = `From: <a@sender.test>\nTo: <jörg@old.test>\nSubject: ${marker}\n\nhello\n`;
    await send('a@sender.test', ['jörg@old.test'], msg, ['SMTPUTF8']);
    const dsn = await fromModern(`Subject: ${marker}`);
    const raw = dsn.data.toString('utf8');
    assert.match(raw, /^Status: 5\.6\.7\r$/m);
    assert.match(raw, /SMTPUTF8 is required, but was not offered by host \[127\.0\.0\.1\]/);
    await send('a@sender.test', ['jörg@modern.test'], msg.replace(marker, `${marker}-modern`), ['SMTPUTF8']);
    const ok = await fromModern(`${marker}-modern`);
    assert.deepEqual(ok.to, ['jörg@modern.test']);
    assert.equal(ok.mailArgs.SMTPUTF8, true);
  });

  it('treats UTF-8 headers of a SMTPUTF8 mail the same (5.6.7 / SMTPUTF8 declared), and an ASCII SMTPUTF8 mail as ordinary', async () => {
    const marker = 'utf8-header';
    const msg = `From: Jörg <a@sender.test>\nTo: <x@old.test>\nSubject: ${marker} — Grüße\n\nhello\n`;
    await send('a@sender.test', ['x@old.test'], msg, ['SMTPUTF8', 'BODY=8BITMIME']);
    const dsn = await fromModern(`${marker} `);
    assert.match(dsn.data.toString('utf8'), /^Status: 5\.6\.7\r$/m);
    await send('a@sender.test', ['x@modern.test'], msg.replace(marker, `${marker}-modern`), ['SMTPUTF8', 'BODY=8BITMIME']);
    const ok = await fromModern(`${marker}-modern`);
    assert.equal(ok.mailArgs.SMTPUTF8, true, 'SMTPUTF8 declared for headers alone (nodemailer looks at addresses only)');
    // SMTPUTF8 asked for but nothing needs it: goes to the old hop like any mail (Postfix does the same)
    const plain = 'utf8-ascii-only';
    await send('a@sender.test', ['x@old.test'], `From: <a@sender.test>\nTo: <x@old.test>\nSubject: ${plain}\n\nhello\n`, ['SMTPUTF8']);
    await fromOld(plain);
    await until('the queue to drain', queueEmpty, 10_000);
  });

  it('converts a mail recovered after a restart too (the queue found nothing in memory for it: it is scanned)', async () => {
    const marker = 'recovered-old';
    const { dir: qdir, cleanup: qclean } = await tempDir();
    const config = (port: number) =>
      baseConfig({
        actions: { old: { type: 'relay', smarthost: `smtp://127.0.0.1:${port}` } },
        rules: [{ from: 'any', for: { domain: 'old.test' }, action: 'old' }],
        outbound: { tls: 'none', retry: { minSeconds: 0.2, maxSeconds: 0.4 } },
      });
    let first: Started | undefined;
    let second: Started | undefined;
    try {
      // nothing listens on the hop's port yet: the mail waits in the queue
      first = await startTestRelay(qdir, config(await freePort()));
      const path = join(qdir, 'msg.eml');
      await writeFile(path, Buffer.from(crlf(text8(marker).replace('From: Jörg', 'From: Joerg')), 'utf8'));
      const r = await python(SEND, [String(first.port('plain')), 'joerg@other.test', 'x@old.test', 'BODY=8BITMIME', path]);
      assert.equal(r.code, 0, r.stderr);
      await first.relay.stop();
      first = undefined;
      second = await startTestRelay(qdir, config(old.port));
      const got = await fromOld(marker);
      assert.ok(!/[\x80-\xff]/.test(got.message.toString('latin1')), 'only 7-bit bytes left the relay');
      assert.match(split(got.message).head, /^Content-Transfer-Encoding: quoted-printable\r$/m);
    } finally {
      await first?.relay.stop();
      await second?.relay.stop();
      await qclean();
    }
  });
});
