// SRS through the whole relay: a forwarded copy leaves with an SRS sender (the local copy keeps the
// original), a bounce to that address goes back to the original sender, a forged one is refused.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { baseConfig, startTestRelay, swaks, tempDir } from '../../test/harness.ts';
import { startSink } from '../../test/smtp-sink.ts';
import { until } from '../../test/until.ts';

describe('SRS for forwarded mail (outbound.srs)', () => {
  it('rewrites the sender of a forward, takes bounces back to the original sender, refuses forged addresses', async () => {
    const sink = await startSink();
    const { dir, cleanup } = await tempDir();
    await writeFile(join(dir, 'srs.key'), '# rotate by adding a line on top\nthis-is-a-long-enough-srs-key\n');
    const t = await startTestRelay(
      dir,
      baseConfig({
        tables: { v: { type: 'virtual', entries: { 'moritz@example.org': 'moritz@example.net', 'max@example.org': 'max, max@example.net' } } },
        actions: { mbox: { type: 'mbox' } },
        rules: [{ from: 'any', for: { domain: 'example.org' }, virtual: 'v', action: 'mbox' }],
        mailStore: 'mail',
        outbound: { smarthost: `smtp://127.0.0.1:${sink.port}`, tls: 'none', srs: { domain: 'relay.example.org', keyFile: 'srs.key' } },
      }),
    );
    try {
      const sent = await swaks(t.port('plain'), ['--from', 'sender@outside.test', '--to', 'moritz@example.org', '--header', 'Subject: forward']);
      assert.equal(sent.code, 0, sent.transcript);
      await until('the forwarded copy', () => sink.received.length === 1, 15_000);
      const srsFrom = sink.received[0].from;
      assert.match(srsFrom, /^SRS0=[^=]{4}=[A-Z2-7]{2}=outside\.test=sender@relay\.example\.org$/);
      assert.deepEqual(sink.received[0].to, ['moritz@example.net']);

      // the next hop bounces: the null sender to the SRS address, from anywhere
      const bounce = await swaks(t.port('plain'), ['--from', '<>', '--to', srsFrom, '--header', 'Subject: Undelivered Mail Returned to Sender']);
      assert.equal(bounce.code, 0, bounce.transcript);
      await until('the bounce relayed back', () => sink.received.length === 2, 15_000);
      assert.deepEqual(sink.received[1].to, ['sender@outside.test']);
      assert.equal(sink.received[1].from, '', 'a bounce stays a bounce');

      const forged = await swaks(t.port('plain'), ['--from', '<>', '--to', srsFrom.replace(/^SRS0=[^=]{4}=/, 'SRS0=AbCd=').replace('=sender@', '=victim@'), '--quit-after', 'RCPT']);
      assert.match(forged.transcript, /<\*\* 550 5\.7\.1 Invalid or expired SRS address/);

      // a local copy beside a forward: the local one is delivered, the forwarded one is rewritten
      const both = await swaks(t.port('plain'), ['--from', 'other@outside.test', '--to', 'max@example.org', '--header', 'Subject: both']);
      assert.equal(both.code, 0, both.transcript);
      await until('the second forward', () => sink.received.length === 3, 15_000);
      assert.match(sink.received[2].from, /^SRS0=.*=outside\.test=other@relay\.example\.org$/);
      assert.deepEqual(sink.received[2].to, ['max@example.net']);
    } finally {
      await t.relay.stop();
      await sink.close();
      await cleanup();
    }
  });
});
