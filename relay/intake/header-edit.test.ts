// The header edit on its own: which fields go, what is added, where the body starts, and that a header
// section too long to hold is passed on rather than buffered.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Readable } from 'node:stream';
import { authservIdOf, editHeader, HeaderEditor, type HeaderEdit } from './header-edit.ts';

async function through(edit: HeaderEdit, chunks: string[]): Promise<string> {
  const out: Buffer[] = [];
  for await (const c of Readable.from(chunks.map((s) => Buffer.from(s, 'latin1'))).pipe(new HeaderEditor(edit))) out.push(c as Buffer);
  return Buffer.concat(out).toString('latin1');
}

describe('relay/intake/header-edit', () => {
  it('reads the authserv-id past comments, quotes and folding (RFC 8601 2.2)', () => {
    assert.equal(authservIdOf(' relay.test; spf=pass'), 'relay.test');
    assert.equal(authservIdOf(' (hi) Relay.Test 1; none'), 'relay.test');
    assert.equal(authservIdOf('\r\n\t"relay.test"; none'), 'relay.test');
    assert.equal(authservIdOf(' relay.test.evil; none'), 'relay.test.evil');
  });

  it('removes our results and the named fields, keeps the rest in order, rewrites the Subject', () => {
    const header = 'Received: x\r\nAuthentication-Results: relay.test;\r\n dkim=pass\r\nSubject: hi\r\n there\r\nx-spam-flag: NO\r\nAuthentication-Results: other; none\r\nTo: a';
    assert.equal(
      editHeader(header, { add: [], remove: ['X-Spam-Flag'], authservId: 'relay.test', subject: '[SPAM] hi' }),
      'Received: x\r\nSubject: [SPAM] hi\r\nAuthentication-Results: other; none\r\nTo: a\r\n',
    );
  });

  it('streams: added fields on top, the body untouched, also when the blank line spans chunks', async () => {
    const edit = { add: ['A-R: ours\r\n'], remove: ['X-Old'], authservId: 'relay.test' };
    assert.equal(await through(edit, ['X-Old: 1\r\nSubject: s\r', '\n', '\r\nbody\r\nX-Old: not a header\r\n']), 'A-R: ours\r\nSubject: s\r\n\r\nbody\r\nX-Old: not a header\r\n');
    assert.equal(await through(edit, ['\r\nno header at all\r\n']), 'A-R: ours\r\n\r\nno header at all\r\n');
    assert.equal(await through(edit, ['Subject: only a header\r\n']), 'A-R: ours\r\nSubject: only a header\r\n');
    // the message's 8-bit bytes pass unchanged; added fields are written as UTF-8
    const utf8 = Buffer.from('Subject: Grüße\r\n\r\nbody\r\n', 'utf8').toString('latin1');
    const out = await through({ add: ['X-Who: jürgen@example.org\r\n'], remove: [] }, [utf8]);
    assert.equal(Buffer.from(out, 'latin1').toString('utf8'), 'X-Who: jürgen@example.org\r\nSubject: Grüße\r\n\r\nbody\r\n');
  });

  it('edits a header section of any length one field at a time: a forged field behind a megabyte of padding still goes', async () => {
    const padding = Array.from({ length: 20_000 }, (_, i) => `X-Pad-${i}: ${'a'.repeat(60)}\r\n`).join('');
    const forged = 'Authentication-Results: relay.test; dmarc=pass\r\n';
    const out = await through({ add: ['A-R: ours\r\n'], remove: [], authservId: 'relay.test' }, [padding.slice(0, 700_000), padding.slice(700_000) + forged, 'Subject: s\r\n\r\nbody\r\n']);
    assert.equal(out, 'A-R: ours\r\n' + padding + 'Subject: s\r\n\r\nbody\r\n');
  });

  it('judges a single over-long field by its start: a 2 MiB forged field is dropped, a 2 MiB other one passed whole', async () => {
    const huge = 'x'.repeat(2 * 1024 * 1024);
    const edit = { add: [], remove: [], authservId: 'relay.test' };
    const forged = `Authentication-Results: relay.test; dmarc=pass (${huge})\r\n`;
    const chunks = (s: string) => Array.from({ length: Math.ceil(s.length / 65536) }, (_, i) => s.slice(i * 65536, (i + 1) * 65536));
    assert.equal(await through(edit, chunks(forged + 'To: a\r\n\r\nbody\r\n')), 'To: a\r\n\r\nbody\r\n');
    const other = `X-Long: ${huge}\r\n\t${huge}\r\n`;
    assert.equal(await through(edit, chunks(other + 'To: a\r\n\r\nbody\r\n')), other + 'To: a\r\n\r\nbody\r\n');
  });
});
