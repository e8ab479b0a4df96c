// Onward SMTP delivery through a real relay: a DNS server on loopback serves MX/A records, smtp-server
// sinks on loopback receive. Mail enters the relay's queue exactly as intake commits it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { readdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { baseConfig, startTestRelay, tempDir } from '../../../test/harness.ts';
import { startDns, type TestDns } from '../../../test/dns-server.ts';
import { startSink, type TestSink } from '../../../test/smtp-sink.ts';
import { injectMail, testMessage } from '../../../test/inject.ts';
import { runAdmin } from '../../queue/admin.ts';
import { until } from '../../../test/until.ts';

type Started = Awaited<ReturnType<typeof startTestRelay>>;

async function selfSigned(name: string): Promise<{ key: string; cert: string }> {
  const pems = await generate([{ name: 'commonName', value: name }], {
    keyType: 'rsa',
    keySize: 2048,
    algorithm: 'sha256',
    extensions: [{ name: 'subjectAltName', altNames: [{ type: 2 as const, value: name }] }],
  });
  return { key: pems.private, cert: pems.cert };
}

/** Parses the message/delivery-status part of a DSN into per-message and per-recipient field maps. */
function parseDsn(raw: string): { headers: string; groups: Record<string, string>[]; parts: string[] } {
  const boundary = /boundary="([^"]+)"/.exec(raw)![1];
  const parts = raw.split(`--${boundary}`);
  const status = parts.find((p) => /Content-Type: message\/delivery-status/i.test(p))!;
  const body = status.split(/\r\n\r\n/).slice(1).join('\r\n\r\n').trim();
  const groups = body.split(/\r\n\r\n/).map((g) => Object.fromEntries(g.split('\r\n').map((l) => [l.slice(0, l.indexOf(':')).toLowerCase(), l.slice(l.indexOf(':') + 1).trim()])));
  return { headers: raw.slice(0, raw.indexOf('\r\n\r\n')), groups, parts };
}

describe('relay/deliver/smtp: onward delivery', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let dns: TestDns;
  let mx1: TestSink;
  let mx2: TestSink;
  let t: Started;
  let tlsKey: { key: string; cert: string };

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    tlsKey = await selfSigned('tls.example.net');
    mx1 = await startSink();
    // a second MX on another loopback address, same port (outbound.port is one for all MX hosts)
    mx2 = await startSink({ address: '127.0.0.2', port: mx1.port });
    dns = await startDns({
      'example.net': { mx: [[20, 'mx2.example.net'], [10, 'mx1.example.net']] },
      'mx1.example.net': { a: ['127.0.0.1'] },
      'mx2.example.net': { a: ['127.0.0.2'] },
      'sender.test': { mx: [[10, 'mx2.example.net']] },
      'down.test': { mx: [[10, 'dead.down.test'], [20, 'mx2.example.net']] },
      'dead.down.test': { a: ['127.0.0.3'] },
    });
    t = await startTestRelay(dir, baseConfig({
      outbound: {
        resolver: { servers: [dns.server], timeoutSeconds: 1 },
        port: mx1.port,
        family: 'inet4',
        tls: 'opportunistic',
        retry: { minSeconds: 0.2, maxSeconds: 0.4, greylistSeconds: 0.2 },
        connectTimeoutSeconds: 2,
        idleSeconds: 1,
      },
    }));
  });
  after(async () => {
    await t.relay.stop();
    await Promise.all([mx1.close(), mx2.close(), dns.close()]);
    await cleanup();
  });
  const queueEmpty = async () => (await readdir(join(dir, 'queue', 'messages'))).length === 0;
  const drained = () => until('the queue to drain', queueEmpty, 5000);

  it('delivers to the most preferred MX, all recipients of one domain in one transaction', async () => {
    const before1 = mx1.received.length;
    await injectMail(t.relay, { from: 'alice@sender.test', to: ['a@example.net', 'b@example.net', 'c@example.net'] });
    await until('delivery to mx1', () => mx1.received.length > before1, 5000);
    const got = mx1.received.at(-1)!;
    assert.deepEqual(got.to, ['a@example.net', 'b@example.net', 'c@example.net']);
    assert.equal(got.from, 'alice@sender.test');
    assert.match(got.data.toString(), /^From: <alice@sender.test>/m);
    await drained();
  });

  it('falls back to the next MX when the preferred one takes no connection', async () => {
    const n = mx2.received.length;
    await injectMail(t.relay, { from: 'alice@sender.test', to: ['c@down.test'] });
    await until('delivery to the backup MX', () => mx2.received.length > n, 5000);
    assert.deepEqual(mx2.received.at(-1)!.to, ['c@down.test']);
    await drained();
  });

  it('reuses a connection for the next mail to the same destination', async () => {
    const c = mx1.connections;
    const n = mx1.received.length;
    for (let i = 0; i < 3; i++) {
      await injectMail(t.relay, { from: 'alice@sender.test', to: [`reuse${i}@example.net`] });
      await until('delivery', () => mx1.received.length > n + i, 5000);
    }
    assert.equal(mx1.connections - c, 0, 'the connection of the first test was still idle and was reused');
    assert.equal(new Set(mx1.received.slice(n).map((m) => m.session)).size, 1);
  });

  it('defers a 4xx and delivers on a later attempt, recording the error and next attempt meanwhile', async () => {
    let refusals = 0;
    mx1.options.rcpt = (a) => (a === 'later@example.net' && refusals++ < 2 ? [451, '4.3.0 try again later'] : undefined);
    const n = mx1.received.length;
    const id = await injectMail(t.relay, { from: 'alice@sender.test', to: ['later@example.net'] });
    await until('first refusal', () => refusals >= 1, 5000);
    await until('state saved', () => t.relay.relay.queue.get(id)?.state.recipients[0].attempts === 1, 2000);
    const row = await runAdmin(t.relay.relay.queue, { op: 'show', id });
    assert.ok(row.ok && row.mail);
    const r = row.ok ? row.mail!.recipients[0] : undefined;
    assert.equal(r?.status, 'pending');
    assert.match(r?.lastError ?? '', /mx1.example.net\[127.0.0.1\] said: 451 4.3.0 try again later/);
    assert.ok(r?.nextAttemptAt, 'next attempt is shown');
    await until('delivery after retries', () => mx1.received.length > n, 5000);
    assert.equal(refusals, 3);
    mx1.options.rcpt = undefined;
    await drained();
  });

  it('bounces a 5xx recipient with one RFC 3464 DSN to the sender, and delivers the others', async () => {
    mx1.options.rcpt = (a) => (a.startsWith('nobody') ? [550, '5.1.1 <' + a + '>: no such user'] : undefined);
    const n1 = mx1.received.length;
    const n2 = mx2.received.length;
    const id = await injectMail(t.relay, { from: 'alice@sender.test', to: ['ok@example.net', 'nobody@example.net'], subject: 'the original subject' });
    await until('delivery and DSN', () => mx1.received.length > n1 && mx2.received.length > n2, 5000);
    mx1.options.rcpt = undefined;
    assert.deepEqual(mx1.received.at(-1)!.to, ['ok@example.net']);
    const dsn = mx2.received.at(-1)!;
    assert.equal(dsn.from, '', 'DSNs are sent with the null sender');
    assert.deepEqual(dsn.to, ['alice@sender.test']);
    const raw = dsn.data.toString();
    const { headers, groups, parts } = parseDsn(raw);
    assert.match(headers, /^Content-Type: multipart\/report; report-type=delivery-status;/m);
    assert.match(headers, /^Auto-Submitted: auto-replied/m);
    assert.match(headers, /^From: Mail Delivery System <MAILER-DAEMON@relay.test>/m);
    assert.equal(groups[0]['reporting-mta'], 'dns; relay.test');
    assert.equal(groups[0]['x-kubemta-queue-id'], id);
    assert.equal(groups.length, 2, 'one per-message group and one recipient: only the failed one');
    assert.equal(groups[1]['final-recipient'], 'rfc822; nobody@example.net');
    assert.equal(groups[1].action, 'failed');
    assert.equal(groups[1].status, '5.1.1');
    assert.equal(groups[1]['remote-mta'], 'dns; mx1.example.net');
    assert.equal(groups[1]['diagnostic-code'], 'smtp; 550 5.1.1 <nobody@example.net>: no such user');
    assert.ok(parts.some((p) => /Content-Type: text\/rfc822-headers/.test(p) && /Subject: the original subject/.test(p)), 'original headers attached');
    await drained();
  });

  it('never bounces a mail from the null sender (no bounce loop)', async () => {
    mx1.options.rcpt = () => [550, '5.1.1 no such user'];
    const n2 = mx2.received.length;
    const id = await injectMail(t.relay, { from: '', to: ['gone@example.net'] });
    await until('the failed DSN leaves the queue', () => !t.relay.relay.queue.get(id), 5000);
    mx1.options.rcpt = undefined;
    await drained();
    assert.equal(mx2.received.length, n2, 'nothing was sent back');
  });

  it('bounces at once when the domain does not exist (NXDOMAIN), with 5.1.2', async () => {
    const n2 = mx2.received.length;
    await injectMail(t.relay, { from: 'alice@sender.test', to: ['x@nosuch.test'] });
    await until('DSN', () => mx2.received.length > n2, 5000);
    assert.equal(parseDsn(mx2.received.at(-1)!.data.toString()).groups[1].status, '5.1.2');
    await drained();
  });

  it('defers when the TLS policy requires STARTTLS and the MX does not offer it, delivers when it does', async () => {
    // mx1 offers no STARTTLS: a `required` destination waits
    const cfg = t.relay.relay.snapshot.config.outbound;
    cfg.tlsPolicies = [{ domain: 'example.net', tls: 'required' }];
    const id = await injectMail(t.relay, { from: 'alice@sender.test', to: ['secret@example.net'] });
    await until('a deferred attempt', () => (t.relay.relay.queue.get(id)?.state.recipients[0].attempts ?? 0) >= 1, 5000);
    const r = t.relay.relay.queue.get(id)!.state.recipients[0];
    assert.equal(r.status, 'pending');
    assert.match(r.lastError ?? '', /STARTTLS/i);
    assert.ok(!mx1.received.some((m) => m.to.includes('secret@example.net')));
    // now the MX hosts offer STARTTLS (a fresh sink with a certificate, on mx1's address and port)
    await mx1.close();
    const tlsSink = await startSink({ tls: tlsKey, port: mx1.port });
    try {
      await runAdmin(t.relay.relay.queue, { op: 'flush', id });
      await until('delivery over TLS', () => tlsSink.received.length > 0, 5000);
      assert.equal(tlsSink.received[0].secure, true);
      await drained();
    } finally {
      cfg.tlsPolicies = [];
      await tlsSink.close();
      mx1 = await startSink({ port: mx1.port });
    }
  });
});

describe('relay/deliver/smtp: TLS verification, smarthost AUTH and DKIM', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let dns: TestDns;
  let sink: TestSink;
  let t: Started;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const pems = await selfSigned('smart.test');
    await writeFile(join(dir, 'ca.pem'), pems.cert);
    await writeFile(join(dir, 'smarthost.pw'), 's3cret\n');
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const ed = generateKeyPairSync('ed25519');
    await writeFile(join(dir, 'rsa.key'), rsa.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    await writeFile(join(dir, 'ed.key'), ed.privateKey.export({ type: 'pkcs8', format: 'pem' }));
    dns = await startDns({
      'smart.test': { a: ['127.0.0.1'] },
      'wrongname.test': { a: ['127.0.0.1'] },
      'rsa._domainkey.signed.test': { txt: [] },
    });
    const dkimTxt = (pub: import('node:crypto').KeyObject, k: string) =>
      `v=DKIM1; k=${k}; p=${k === 'rsa' ? pub.export({ type: 'spki', format: 'der' }).toString('base64') : pub.export({ type: 'spki', format: 'der' }).subarray(12).toString('base64')}`;
    keys = { 'rsa._domainkey.signed.test': dkimTxt(rsa.publicKey, 'rsa'), 'ed._domainkey.signed.test': dkimTxt(ed.publicKey, 'ed25519') };
    sink = await startSink({ tls: pems, auth: { user: 'relay', pass: 's3cret' } });
    t = await startTestRelay(dir, baseConfig({
      outbound: {
        resolver: { servers: [dns.server], timeoutSeconds: 1 },
        smarthost: `smtp://smart.test:${sink.port}`,
        hostLookup: ['dns'], // smart.test is only in the test's DNS server
        smarthostAuth: [{ host: 'smart.test', username: 'relay', passwordFile: 'smarthost.pw' }],
        tlsPolicies: [{ domain: 'smart.test', tls: 'verify' }],
        caFile: 'ca.pem',
        retry: { minSeconds: 0.2, maxSeconds: 0.4, greylistSeconds: 0.2 },
        // the agent on its own thread (not the default): TLS, AUTH and DKIM work there too
        deliveryThread: true,
        dkim: [
          { domain: 'signed.test', selector: 'rsa', keyFile: 'rsa.key' },
          { domain: 'signed.test', selector: 'ed', keyFile: 'ed.key' },
        ],
      },
    }));
  });
  let keys: Record<string, string> = {};
  after(async () => {
    await t.relay.stop();
    await Promise.all([sink.close(), dns.close()]);
    await cleanup();
  });

  it('relays through the smarthost over verified TLS, logging in with the password from its file', async () => {
    await injectMail(t.relay, { from: 'bob@plain.test', to: ['someone@far.test'] });
    await until('delivery through the smarthost', () => sink.received.length > 0, 5000);
    const m = sink.received.at(-1)!;
    assert.equal(m.secure, true);
    assert.equal(m.user, 'relay');
    assert.doesNotMatch(m.data.toString(), /DKIM-Signature/i, 'no key for plain.test: unsigned');
  });

  it('signs with every key of the From: domain (rsa-sha256 and ed25519-sha256), verified by mailauth', async () => {
    const n = sink.received.length;
    await injectMail(t.relay, { from: 'bounces@signed.test', to: ['x@far.test'], message: testMessage('carol@signed.test', ['x@far.test'], 'signed', 'Body line.\r\n.leading dot\r\n') });
    await until('signed delivery', () => sink.received.length > n, 5000);
    const data = sink.received.at(-1)!.data;
    const res = await dkimVerify(data, { resolver: async (name: string) => (keys[name] ? [[keys[name]]] : Promise.reject(Object.assign(new Error('nx'), { code: 'ENOTFOUND' }))) });
    const results = res.results.map((r) => [r.signingDomain, r.algo, r.status.result]);
    assert.deepEqual(results.sort(), [['signed.test', 'ed25519-sha256', 'pass'], ['signed.test', 'rsa-sha256', 'pass']].sort());
  });

  it('defers when the certificate does not match the host name under `verify`', async () => {
    const o = t.relay.relay.snapshot.config.outbound;
    o.smarthost = `smtp://wrongname.test:${sink.port}`;
    o.tlsPolicies = [{ domain: 'wrongname.test', tls: 'verify' }];
    try {
      const id = await injectMail(t.relay, { from: 'bob@plain.test', to: ['y@far.test'] });
      await until('a deferred attempt', () => (t.relay.relay.queue.get(id)?.state.recipients[0].attempts ?? 0) >= 1, 5000);
      assert.match(t.relay.relay.queue.get(id)!.state.recipients[0].lastError ?? '', /altnames|certificate|Hostname/i);
      await runAdmin(t.relay.relay.queue, { op: 'rm', id });
    } finally {
      o.smarthost = `smtp://smart.test:${sink.port}`;
    }
  });
});
