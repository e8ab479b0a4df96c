// The content filter hook against a real rspamd (a private instance with test rules, test/rspamd.ts),
// through real SMTP clients: each verdict is acted on, and a filter that never answers tempfails or
// accepts-and-marks as configured.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server, type Socket } from 'node:net';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { baseConfig, startTestRelay, tempDir } from '../../test/harness.ts';
import { boxRouting, boxTable, fieldsNamed, headerOf, sendAndDeliver, sendWithSwaks, testMessage } from '../../test/intake-kit.ts';
import { startRspamd, type TestRspamd } from '../../test/rspamd.ts';
import { hashPassword } from '../auth/hash.ts';

describe('relay/intake: content filter (rspamd)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let rspamd: TestRspamd;
  let t: Awaited<ReturnType<typeof startTestRelay>>;
  // an HTTP server that accepts and never answers: the filter timing out
  let silent: Server;
  const held: Socket[] = [];

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    rspamd = await startRspamd();
    silent = createServer((s) => held.push(s.on('error', () => {})));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const silentUrl = `http://127.0.0.1:${(silent.address() as { port: number }).port}`;
    t = await startTestRelay(
      dir,
      baseConfig({
        ...boxRouting,
        tables: { ...boxTable, users: { type: 'credentials', entries: { max: await hashPassword('demo-password', 4) } } },
        listeners: [
          { name: 'mx', address: '127.0.0.1', port: 0, tls: 'none' },
          { name: 'unfiltered', address: '127.0.0.1', port: 0, tls: 'none', intake: { filter: { enabled: false } } },
          { name: 'stuck-tempfail', address: '127.0.0.1', port: 0, tls: 'none', intake: { filter: { url: silentUrl, timeoutSeconds: 0.5 } } },
          { name: 'stuck-accept', address: '127.0.0.1', port: 0, tls: 'none', intake: { filter: { url: silentUrl, timeoutSeconds: 0.5, onFailure: 'accept' } } },
          { name: 'submission', address: '127.0.0.1', port: 0, tls: 'starttls', pki: 'post', auth: 'users' },
        ],
        intake: { filter: { url: rspamd.url, timeoutSeconds: 10 } },
      }),
    );
  });
  after(async () => {
    await t?.relay.stop();
    for (const s of held) s.destroy();
    await new Promise((resolve) => silent?.close(resolve));
    await rspamd?.close();
    await cleanup?.();
  });

  const maildir = () => join(dir, 'mail', 'maildir', 'box');
  const deliver = (listener: string, subject: string, extra = '', swaksArgs: string[] = [], deliveredSubject = subject) =>
    sendAndDeliver(dir, maildir(), t.port(listener), 'alice@sender.test', testMessage('alice@sender.test', subject, extra), deliveredSubject, swaksArgs);
  const refusal = async (listener: string, subject: string) => {
    const r = await sendWithSwaks(dir, t.port(listener), 'alice@sender.test', testMessage('alice@sender.test', subject));
    assert.notEqual(r.code, 0, r.transcript);
    return /<\*\* (\d{3} .*)/.exec(r.transcript)?.[1] ?? r.transcript;
  };
  const queueIsEmpty = async () => {
    assert.deepEqual(await readdir(join(dir, 'queue', 'messages')), []);
    assert.deepEqual(await readdir(join(dir, 'queue', 'incoming')), []);
  };

  it('a clean mail is queued with the filter\'s verdict in headers, and a sender\'s own X-Spam-Flag removed', async () => {
    const text = await deliver('mx', 'plain hello', 'X-Spam-Flag: NO');
    assert.deepEqual(fieldsNamed(text, 'X-Spam-Action'), ['X-Spam-Action: no action'], (await rspamd.log()).slice(-2000));
    assert.deepEqual(fieldsNamed(text, 'X-Spam-Score'), ['X-Spam-Score: 0.00']);
    assert.deepEqual(fieldsNamed(text, 'X-Spam-Flag'), []);
  });

  it('reject: 550 5.7.1 at end of DATA, nothing queued', async () => {
    assert.match(await refusal('mx', 'buy now REJECTME'), /^550 5\.7\.1 Message rejected by the content filter/);
    await queueIsEmpty();
  });

  it('soft reject: 451 4.7.1 with the filter\'s own message, nothing queued', async () => {
    assert.match(await refusal('mx', 'maybe SOFTME'), /^451 4\.7\.1 try again later, says the test/);
    await queueIsEmpty();
  });

  it('add header: X-Spam-Flag: YES and the filter\'s own header, which saw the envelope and the queue id', async () => {
    const text = await deliver('mx', 'spammy HEADERME');
    assert.deepEqual(fieldsNamed(text, 'X-Spam-Flag'), ['X-Spam-Flag: YES']);
    assert.deepEqual(fieldsNamed(text, 'X-Spam-Action'), ['X-Spam-Action: add header']);
    const [own] = fieldsNamed(text, 'X-Test-Filter');
    const qid = /with ESMTP id ([0-9a-f]{20})/.exec(text)?.[1];
    assert.equal(own, `X-Test-Filter: seen ${qid} alice@sender.test -`);
  });

  it('rewrite subject: the Subject the filter gives replaces the original', async () => {
    const text = await deliver('mx', 'offer SUBJECTME', '', [], '[SPAM] offer SUBJECTME');
    assert.deepEqual(fieldsNamed(text, 'Subject'), ['Subject: [SPAM] offer SUBJECTME']);
    assert.deepEqual(fieldsNamed(text, 'X-Spam-Flag'), ['X-Spam-Flag: YES']);
  });

  it('a filter that does not answer in time: 451 4.7.1 where onFailure is tempfail, without waiting past the timeout', async () => {
    const started = Date.now();
    assert.match(await refusal('stuck-tempfail', 'no answer'), /^451 4\.7\.1 Content filter unavailable/);
    assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
    await queueIsEmpty();
  });

  it('a filter that does not answer in time: queued and marked where onFailure is accept', async () => {
    const text = await deliver('stuck-accept', 'accepted anyway');
    assert.deepEqual(fieldsNamed(text, 'X-Kubemta-Filter'), ['X-Kubemta-Filter: unavailable (timeout)']);
    assert.deepEqual(fieldsNamed(text, 'X-Spam-Action'), []);
  });

  it('a listener that turns the filter off queues without asking it', async () => {
    const text = await deliver('unfiltered', 'unfiltered REJECTME');
    assert.doesNotMatch(headerOf(text), /X-Spam|X-Kubemta-Filter/);
  });

  it('mail from an authenticated session is scanned too, with its user', async () => {
    const text = await deliver('submission', 'submitted HEADERME', '', ['-tls', '--auth', 'PLAIN', '--auth-user', 'max', '--auth-password', 'demo-password']);
    assert.deepEqual(fieldsNamed(text, 'X-Spam-Action'), ['X-Spam-Action: add header']);
    assert.match(fieldsNamed(text, 'X-Test-Filter')[0], / alice@sender\.test max$/);
    const verdicts = (await t.relay.relay.metrics.intakeVerdicts.get()).values.map((v) => `${v.labels.listener} ${v.labels.check} ${v.labels.verdict}`);
    for (const v of ['mx filter reject', 'mx filter soft-reject', 'mx filter add-header', 'stuck-tempfail filter unavailable-tempfail', 'stuck-accept filter unavailable-accepted', 'submission filter add-header']) assert.ok(verdicts.includes(v), `${v} in ${verdicts.join(', ')}`);
  });
});
