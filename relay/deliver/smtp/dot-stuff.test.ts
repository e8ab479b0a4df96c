import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { stuffDots } from './dot-stuff.ts';

describe('relay/deliver/smtp/dot-stuff', () => {
  it('doubles a dot at the start of every line, including the first and across chunk boundaries', () => {
    assert.equal(stuffDots(Buffer.from('.a\r\nb\r\n..c\r\n.\r\n'), false)!.toString(), '..a\r\nb\r\n...c\r\n..\r\n');
    assert.equal(stuffDots(Buffer.from('.next'), 10)!.toString(), '..next', 'the previous chunk ended a line');
    assert.equal(stuffDots(Buffer.from('.x'), 65)!.toString(), '.x', 'mid-line dot');
  });

  it('returns the same buffer when nothing needs stuffing', () => {
    const b = Buffer.from('Subject: x\r\n\r\nno dots at line starts. a.b\r\n');
    assert.equal(stuffDots(b, false), b);
  });

  it('declines chunks with bare line ends (nodemailer repairs those)', () => {
    assert.equal(stuffDots(Buffer.from('a\nb'), false), undefined);
    assert.equal(stuffDots(Buffer.from('a\rb'), false), undefined);
    assert.equal(stuffDots(Buffer.from('b'), 13), undefined, 'a CR ending the previous chunk, no LF after it');
    assert.equal(stuffDots(Buffer.from('\n.b'), 13)!.toString(), '\n..b', 'CR | LF split across chunks is clean');
  });
});
