// The content conversion on its own, fed in chunks of every size: the output must not depend on where the
// file's reads split it (DKIM signs one pass, the hop receives another), must decode to the original, and
// must hold no 8-bit byte (for a hop without 8BITMIME) and no line over 998 octets.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import libqp from 'libqp';
import { analyse, convert, foldLine, type HopCapabilities } from './downgrade.ts';
import { scanContent } from '../../protocol/content-facts.ts';

const SEVEN: HopCapabilities = { eightBitMime: false };
const EIGHT: HopCapabilities = { eightBitMime: true };

function chunked(buf: Buffer, size: number): () => Readable {
  return () => {
    const parts: Buffer[] = [];
    for (let i = 0; i < buf.length; i += size) parts.push(buf.subarray(i, i + size));
    return Readable.from(parts);
  };
}

async function run(message: string | Buffer, caps: HopCapabilities, size = 1 << 20): Promise<Buffer> {
  const buf = typeof message === 'string' ? Buffer.from(message, 'latin1') : message;
  const src = chunked(buf, size);
  const a = await analyse(src(), caps);
  assert.equal(a.kind, 'convert', a.kind === 'impossible' ? a.reason : '');
  const out: Buffer[] = [];
  for await (const c of convert(src(), a as Extract<typeof a, { kind: 'convert' }>, caps)) out.push(c as Buffer);
  return Buffer.concat(out);
}

const maxLine = (b: Buffer) => Math.max(...b.toString('latin1').split('\r\n').map((l) => l.length));
const is7bit = (b: Buffer) => !/[\x80-\xff]/.test(b.toString('latin1'));
const body = (b: Buffer) => b.subarray(b.indexOf('\r\n\r\n') + 4).toString('latin1');

const utf8 = (s: string) => Buffer.from(s, 'utf8').toString('latin1');

const MESSAGES: Record<string, string> = {
  'a non-MIME 8-bit mail': utf8('From: a@b\r\nSubject: x\r\n\r\nGrüße\r\ntrailing space \r\n.dot\r\n'),
  'a multipart with 8-bit, long and base64 parts': [
    'From: a@b\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\npreamble\r\n',
    '--XX\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n' + utf8('Ärger ') + 'y'.repeat(1500) + '\r\n',
    '--XX\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n' + 'QUJD'.repeat(500) + '\r\n',
    '--XX\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n' + 'a=3Db '.repeat(300) + '\xe9\r\n',
    '--XX--\r\n',
  ].join(''),
};

describe('relay/deliver/mime: conversion for a next hop', () => {
  for (const [name, message] of Object.entries(MESSAGES)) {
    it(`gives the same bytes whatever the chunk size, 7-bit and short-lined: ${name}`, async () => {
      const whole = await run(message, SEVEN);
      for (const size of [1, 2, 3, 7, 64, 1000]) assert.deepEqual(await run(message, SEVEN, size), whole, `chunks of ${size}`);
      assert.ok(is7bit(whole));
      assert.ok(maxLine(whole) <= 998, `longest line ${maxLine(whole)}`);
    });
  }

  it('cuts a line longer than it holds (64 KiB) at the same places whatever the chunk size', async () => {
    const line = utf8('ü').repeat(20_000) + ' '.repeat(10) + 'x'.repeat(120_000);
    const msg = 'Subject: x\r\n\r\n' + line + '\r\nnext\r\n';
    const whole = await run(msg, SEVEN);
    for (const size of [1000, 4096, 65_536, 65_537]) assert.deepEqual(await run(msg, SEVEN, size), whole, `chunks of ${size}`);
    assert.ok(maxLine(whole) <= 76);
    assert.equal(libqp.decode(body(whole)).toString('latin1'), line + '\r\nnext\r\n');
  });

  it('decodes back to the original text', async () => {
    const out = await run(MESSAGES['a non-MIME 8-bit mail'], SEVEN);
    assert.equal(libqp.decode(body(out)).toString('utf8'), 'Grüße\r\ntrailing space \r\n.dot\r\n');
    assert.match(out.toString(), /^Content-Type: text\/plain; charset=utf-8\r$/m, 'valid UTF-8 is named so');
    const latin1 = await run('Subject: x\r\n\r\nna\xefve\r\n', SEVEN);
    assert.match(latin1.toString(), /^Content-Type: text\/plain; charset=unknown-8bit\r$/m, 'anything else is unknown-8bit (RFC 1428)');
  });

  it('re-wraps overlong base64 and quoted-printable without decoding, escaping 8-bit bytes in the latter', async () => {
    const out = (await run(MESSAGES['a multipart with 8-bit, long and base64 parts'], SEVEN, 5)).toString('latin1');
    const parts = out.split('--XX');
    const b64 = parts[2].split('\r\n\r\n')[1];
    assert.equal(b64.replace(/\r\n/g, ''), 'QUJD'.repeat(500));
    const qp = parts[3].split('\r\n\r\n')[1];
    assert.equal(libqp.decode(qp).toString('latin1'), 'a=b '.repeat(300) + '\xe9\r\n');
  });

  it('leaves the body alone for a hop with 8BITMIME when no line is too long', async () => {
    const msg = MESSAGES['a non-MIME 8-bit mail'];
    const facts = await scanContent(chunked(Buffer.from(msg, 'latin1'), 3)());
    assert.deepEqual(facts, { eightBitHeader: false, eightBitBody: true, longLines: false });
    assert.equal((await run(msg, EIGHT)).toString('latin1'), msg);
  });

  it('breaks long lines with CRLF SP where no encoding is allowed (message/*), as Postfix does', async () => {
    const inner = 'Subject: inner\r\n\r\n' + 'z'.repeat(2100) + '\r\n';
    const msg = 'MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\n' + inner;
    const out = await run(msg, EIGHT, 100);
    assert.ok(maxLine(out) <= 998);
    assert.equal(body(out).replace(/\r\n /g, ''), inner, 'nothing lost, only CRLF SP inserted');
  });

  it('says why when no encoding can make the message 7-bit', async () => {
    const cases: [string, RegExp][] = [
      ['MIME-Version: 1.0\r\nContent-Type: message/rfc822\r\n\r\nSubject: x\r\n\r\n\xe9\r\n', /message\/rfc822.*RFC 2045 allows no encoding/],
      ['MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=B\r\n\r\npr\xe9amble\r\n--B\r\n\r\nx\r\n--B--\r\n', /preamble or epilogue/],
    ];
    for (const [msg, why] of cases) {
      const a = await analyse(Readable.from([Buffer.from(msg, 'latin1')]), SEVEN);
      assert.equal(a.kind, 'impossible');
      assert.match((a as { reason: string }).reason, why);
    }
    // message/global may be encoded (RFC 6532 3.5)
    const global = await run('MIME-Version: 1.0\r\nContent-Type: message/global\r\n\r\nSubject: \xc3\xa9\r\n\r\nx\r\n', SEVEN);
    assert.match(global.toString(), /Content-Transfer-Encoding: quoted-printable/);
  });

  it('folds a header line at whitespace (unfolding restores it), and inserts CRLF SP only where there is none', () => {
    const words = 'X-Words: ' + Array.from({ length: 400 }, (_, i) => `w${i}`).join(' ');
    const folded = foldLine(words);
    assert.ok(folded.split('\r\n').every((l) => l.length <= 998));
    assert.equal(folded.replace(/\r\n/g, ''), words);
    const solid = 'X-Solid: ' + 'q'.repeat(2500);
    const broken = foldLine(solid);
    assert.ok(broken.split('\r\n').every((l) => l.length <= 998));
    assert.equal(broken.replace(/\r\n /g, ''), solid);
  });
});
