import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { composeDsn } from './dsn.ts';
import { enhancedStatus, parseDiagnostic, remoteDetail } from './diagnostic.ts';

describe('relay/deliver/dsn and diagnostic', () => {
  it('reads back what remoteDetail wrote, and the status from the reply, the detail or the class', () => {
    const d = remoteDetail('mx.example.net[192.0.2.1]', '550 5.1.1 <x@example.net>: no such user\r\n');
    assert.deepEqual(parseDiagnostic(d), { remoteMta: 'mx.example.net[192.0.2.1]', reply: '550 5.1.1 <x@example.net>: no such user', text: d });
    assert.equal(enhancedStatus(d, '5.0.0'), '5.1.1');
    assert.equal(enhancedStatus(remoteDetail('[192.0.2.1]', '554 go away'), '4.0.0'), '5.0.0');
    assert.equal(enhancedStatus(`4.4.7 delivery time expired; last error: ${remoteDetail('m[1.2.3.4]', '451 4.3.0 later')}`, '5.0.0'), '4.4.7');
    assert.equal(enhancedStatus('connection refused', '4.0.0'), '4.0.0');
  });

  it('composes a multipart/report with one delivery-status block per recipient and the original header', () => {
    const { text } = composeDsn({
      kind: 'failed',
      reportingMta: 'relay.test',
      queueId: '0123456789abcdef0123',
      sender: 'a@b.test',
      arrivalDate: Date.UTC(2026, 10, 25),
      now: Date.UTC(2026, 10, 26),
      originalHeaders: Buffer.from('Subject: hi\r\nFrom: a@b.test\r\n\r\n'),
      recipients: [
        { final: 'x@alias.test', original: 'list@b.test', detail: remoteDetail('mx[127.0.0.1]', '550 5.2.2 mailbox full') },
        { final: 'y@c.test', detail: '5.1.2 domain c.test does not exist' },
      ],
    });
    assert.ok(!/[^\r]\n/.test(text), 'CRLF only');
    assert.ok(text.split('\r\n').every((l) => l.length <= 998));
    assert.match(text, /^Content-Type: message\/delivery-status$/m);
    assert.match(text, /^Original-Recipient: rfc822; list@b.test$/m);
    assert.match(text, /^Status: 5\.2\.2$/m);
    assert.match(text, /^Diagnostic-Code: smtp; 550 5\.2\.2 mailbox full$/m);
    assert.match(text, /^Status: 5\.1\.2$/m);
    assert.match(text, /^Diagnostic-Code: X-kubemta; 5\.1\.2 domain c.test does not exist$/m);
    assert.match(text, /^Content-Type: text\/rfc822-headers\r\n\r\nSubject: hi\r\nFrom: a@b.test\r\n\r\n--/m);
  });
});
