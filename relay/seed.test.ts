// The seed article's Listings 2 and 3, one line each, through real SMTP clients (swaks, Python smtplib)
// against the relay running examples/seed/relay.yaml with its table files, checking the mbox files the
// mail lands in (read with Python's mailbox module). Listing 1 (listeners, TLS, AUTH): relay/smtp tests.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { copyFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import * as yaml from 'js-yaml';
import { baseConfig, python, ROOT, startTestRelay, swaks, tempDir } from '../test/harness.ts';
import { startSink } from '../test/smtp-sink.ts';
import type { RunningRelay } from './main.ts';
import { until } from '../test/until.ts';

const SEED = join(ROOT, 'examples/seed');

/** Subjects per mailbox, read by Python's mailbox.mbox (an independent mbox reader). */
async function mailboxes(store: string, names: string[]): Promise<Record<string, { subject: string; deliveredTo: string; received: string }[]>> {
  const r = await python(
    `import json, mailbox, os, sys
out = {}
for n in sys.argv[2:]:
    p = os.path.join(sys.argv[1], 'mbox', n)
    out[n] = [{'subject': m['Subject'], 'deliveredTo': m['Delivered-To'], 'received': m['Received']} for m in mailbox.mbox(p)] if os.path.exists(p) else []
print(json.dumps(out))`,
    [store, ...names],
  );
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout);
}

describe('the seed (examples/seed/relay.yaml): every line of Listings 2 and 3, delivered into mboxes', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let running: RunningRelay;
  let port: (name: string) => number;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    for (const f of ['aliases', 'virtusers', 'domains', 'users', 'remote']) await copyFile(join(SEED, f), join(dir, f));
    const config = yaml.load(await readFile(join(SEED, 'relay.yaml'), 'utf8')) as Record<string, unknown> & { listeners: Record<string, unknown>[] };
    for (const l of config.listeners) {
      l.port = 0;
      // the inbound listener also takes PROXY v2, so a test can speak for a client that is not on loopback
      if (l.name === 'inbound') l.proxyProtocol = { trustedNetworks: ['127.0.0.1/32'] };
    }
    Object.assign(config, {
      queue: { dir: 'queue' },
      mailStore: 'mail',
      http: { address: '127.0.0.1', port: 0 },
      log: { level: 'silent' },
      outbound: { family: 'inet4', resolver: { servers: ['127.0.0.1:9'], timeoutSeconds: 0.2 } },
    });
    const t = await startTestRelay(dir, config);
    running = t.relay;
    port = t.port;
  });

  after(async () => {
    await running.stop();
    await cleanup();
  });

  /** One mail through the inbound listener (port 25 in the seed) as an outside client would send it. */
  const send = (to: string, subject: string, extra: string[] = []) =>
    swaks(port('inbound'), ['--from', 'sender@outside.test', '--to', to, '--header', `Subject: ${subject}`, '--proxy-version', '2', '--proxy-family', 'AF_INET', '--proxy-source', '192.0.2.7', '--proxy-source-port', '40000', '--proxy-dest', '127.0.0.1', '--proxy-dest-port', '25', ...extra]);

  it('accepts each listed address at RCPT time and refuses the ones no line covers', async () => {
    const cases: [string, string][] = [
      // Listing 2 (virtusers, for domain 'example.org')
      ['max.muster@example.org', 'L2 max.muster'],
      ['max@example.org', 'L2 max'],
      ['mm@example.org', 'L2 mm'],
      ['moritz@example.org', 'L2 moritz'],
      ['catchall@example.org', 'L2 catchall'],
      ['anyone@example.org', 'L2 catch-all'],
      // Listing 3 (users, for domain <domains>, wildcards)
      ['max@example.net', 'L3 max example.net'],
      ['max@mail.example.com', 'L3 max *.example.com'],
      ['Max@Shop.Example.NET', 'L3 max case'],
      ['moritz@example.com', 'L3 moritz example.com'],
      ['moritz@eu.example.net', 'L3 moritz *.example.net'],
      ['postmaster@example.com', 'L3 postmaster'],
    ];
    for (const [to, subject] of cases) {
      const r = await send(to, subject);
      assert.equal(r.code, 0, `${to}: ${r.transcript}`);
    }
    const unknown = await send('nobody@example.net', 'unknown');
    assert.match(unknown.transcript, /<\*\* 550 5\.1\.1 /, 'unknown user in a handled domain, at RCPT time');
    const relay = await send('friend@elsewhere.test', 'relay attempt');
    assert.match(relay.transcript, /<\*\* 550 5\.7\.1 /, 'no open relay for an outside client');
    const wildcardMiss = await send('max@example.co.uk', 'not ours');
    assert.match(wildcardMiss.transcript, /<\*\* 550 5\.7\.1 /);
  });

  it('one mail to two addresses of one person is one copy (mm@ and max@ both end in max)', async () => {
    const r = await send('mm@example.org,max@example.org', 'dedup');
    assert.equal(r.code, 0, r.transcript);
  });

  it('local mail from loopback on the local listener resolves through the aliases (Python smtplib)', async () => {
    const r = await python(
      `import smtplib, sys
s = smtplib.SMTP('127.0.0.1', int(sys.argv[1]))
s.sendmail('cron@local.example.org', ['root@localhost'], 'Subject: local root\\r\\n\\r\\nfrom cron\\r\\n')
s.quit()`,
      [String(port('local'))],
    );
    assert.equal(r.code, 0, r.stderr);
  });

  it('every accepted mail lands in the mailbox its line names, and nowhere else', async () => {
    const expected: Record<string, string[]> = {
      max: ['L2 max.muster', 'L2 max', 'L2 mm', 'L2 catchall', 'L2 catch-all', 'L3 max example.net', 'L3 max *.example.com', 'L3 max case', 'L3 postmaster', 'dedup', 'local root'],
      moritz: ['L2 moritz', 'L3 moritz example.com', 'L3 moritz *.example.net'],
    };
    const total = Object.values(expected).flat().length;
    let boxes = await mailboxes(join(dir, 'mail'), Object.keys(expected));
    // the assertions below say which mail is missing when the wait runs out
    await until(`${total} mails delivered`, async () => {
      boxes = await mailboxes(join(dir, 'mail'), Object.keys(expected));
      return Object.values(boxes).flat().length >= total;
    }, 20_000).catch(() => undefined);
    for (const [box, subjects] of Object.entries(expected)) {
      assert.deepEqual(boxes[box].map((m) => m.subject).sort(), [...subjects].sort(), `mailbox ${box}`);
    }
    // Delivered-To names the address the chain ended at, as Postfix and OpenSMTPD write it
    const byDelivered = (s: string) => boxes.max.find((m) => m.subject === s)?.deliveredTo;
    assert.equal(byDelivered('L2 mm'), 'max.muster@example.org');
    assert.equal(byDelivered('L2 catch-all'), 'catchall@example.org');
    assert.equal(byDelivered('L3 max example.net'), 'max@example.net');
    // the Received: field names the listener that took the mail, as its greeting does
    assert.match(boxes.max.find((m) => m.subject === 'local root')!.received, /by local\.example\.org \(kubemta\)/);
    assert.match(boxes.max.find((m) => m.subject === 'L2 mm')!.received, /by post\.example\.org \(kubemta\)/);
    assert.equal(running.relay.queue.list().length, 0, 'nothing left in the queue');
  });
});

describe('Listing 2 alone: the forward to moritz@example.net leaves the relay', () => {
  it('relays the forwarded copy to the next hop, with the original sender, and delivers the local copies', async () => {
    const sink = await startSink();
    const { dir, cleanup } = await tempDir();
    await copyFile(join(SEED, 'virtusers'), join(dir, 'virtusers'));
    const t = await startTestRelay(
      dir,
      baseConfig({
        tables: { virtusers: { type: 'virtual', file: 'virtusers' } },
        actions: { mbox: { type: 'mbox' } },
        rules: [{ from: 'any', for: { domain: 'example.org' }, virtual: 'virtusers', action: 'mbox' }],
        mailStore: 'mail',
        outbound: { smarthost: `smtp://127.0.0.1:${sink.port}`, tls: 'none' },
      }),
    );
    try {
      const r = await swaks(t.port('plain'), ['--from', 'sender@outside.test', '--to', 'moritz@example.org,mm@example.org', '--header', 'Subject: forward']);
      assert.equal(r.code, 0, r.transcript);
      await until('the forwarded copy', () => sink.received.length > 0, 15_000);
      assert.equal(sink.received.length, 1);
      assert.deepEqual(sink.received[0].to, ['moritz@example.net']);
      assert.equal(sink.received[0].from, 'sender@outside.test');
      assert.match(sink.received[0].data.toString(), /^Subject: forward$/m);
      const boxes = await mailboxes(join(dir, 'mail'), ['max', 'moritz']);
      assert.deepEqual(boxes.max.map((m) => m.subject), ['forward']);
      assert.deepEqual(boxes.moritz, []);
    } finally {
      await t.relay.stop();
      await sink.close();
      await cleanup();
    }
  });
});
