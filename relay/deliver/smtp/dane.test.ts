// DANE (RFC 7672) through a real relay: a DNS server on loopback serves MX, A and TLSA records with the AD
// bit set (as a validating resolver does for a signed zone) or not, and TLS next hops (smtp-server) present
// a self-signed certificate (DANE-EE) or a chain under a private CA (DANE-TA). The relay runs as a child
// with its delivery thread, so the log lines and metrics are the ones a user sees.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, X509Certificate } from 'node:crypto';
import type { DetailedPeerCertificate } from 'node:tls';
import { baseConfig, killChild, spawnRelay, tempDir, writeConfig } from '../../../test/harness.ts';
import { RelayChild } from '../../../test/relay-child.ts';
import { startDns, type TestDns, type TlsaRecord } from '../../../test/dns-server.ts';
import { startSink, type TestSink } from '../../../test/smtp-sink.ts';
import { until } from '../../../test/until.ts';
import { certificate, chain, type Pem } from '../../../test/certs.ts';
import { verifyDane, type Tlsa } from './dane.ts';


const der = (pem: string) => Buffer.from(new X509Certificate(pem).raw);
const spki = (pem: string) => new X509Certificate(pem).publicKey.export({ type: 'spki', format: 'der' });
const sha256 = (b: Buffer) => createHash('sha256').update(b).digest();
const sha512 = (b: Buffer) => createHash('sha512').update(b).digest();

/** A peer certificate as tls.getPeerCertificate(true) gives it: raw DER, issuer links, names for checkServerIdentity. */
function peerOf(chain: string[]): DetailedPeerCertificate {
  const certs = chain.map((pem) => {
    const x = new X509Certificate(pem);
    return { raw: Buffer.from(x.raw), subject: { CN: /CN=([^\n]+)/.exec(x.subject)?.[1] }, subjectaltname: x.subjectAltName } as unknown as DetailedPeerCertificate;
  });
  certs.forEach((c, i) => (c.issuerCertificate = certs[i + 1] ?? c));
  return certs[0];
}

describe('relay/deliver/smtp/dane: matching certificates against TLSA records', () => {
  let ee: Pem;
  let ca: Pem;
  let leaf: Pem;
  before(async () => {
    ee = await certificate('mx.ee.test');
    ca = await certificate('Test DANE CA', { isCa: true });
    leaf = await certificate('mx.ta.test', { ca });
  });
  const rec = (usage: number, selector: number, matchingType: number, certificate: Buffer): Tlsa => ({ usage, selector, matchingType, certificate });

  it('DANE-EE matches the certificate or its key, exactly or by SHA-256/512, ignoring names', () => {
    const peer = peerOf([ee.cert]);
    for (const r of [rec(3, 0, 0, der(ee.cert)), rec(3, 1, 0, spki(ee.cert)), rec(3, 0, 1, sha256(der(ee.cert))), rec(3, 1, 1, sha256(spki(ee.cert))), rec(3, 1, 2, sha512(spki(ee.cert)))]) {
      assert.deepEqual(verifyDane(peer, [r], ['some.other.name']), { ok: true, record: `3 ${r.selector} ${r.matchingType}` });
    }
    const wrong = verifyDane(peer, [rec(3, 1, 1, sha256(spki(leaf.cert)))], ['mx.ee.test']);
    assert.equal(wrong.ok, false);
    assert.match(!wrong.ok ? wrong.reason : '', /no TLSA record \(3 1 1\) matches the certificate chain presented \(server key SHA-256 [0-9a-f]{64}\)/);
  });

  it('DANE-TA matches a CA of the presented chain, then checks the signature and the name', () => {
    const peer = peerOf([leaf.cert, ca.cert]);
    assert.deepEqual(verifyDane(peer, [rec(2, 0, 1, sha256(der(ca.cert)))], ['mx.ta.test', 'ta.test']), { ok: true, record: '2 0 1' });
    assert.deepEqual(verifyDane(peer, [rec(2, 1, 1, sha256(spki(ca.cert)))], ['ta.test', 'mx.ta.test']), { ok: true, record: '2 1 1' }, 'the next-hop domain or the MX host');
    const name = verifyDane(peer, [rec(2, 0, 1, sha256(der(ca.cert)))], ['mx.other.test', 'other.test']);
    assert.match(!name.ok ? name.reason : '', /not issued to mx\.other\.test or other\.test/);
    const notInChain = verifyDane(peerOf([leaf.cert]), [rec(2, 0, 1, sha256(der(ca.cert)))], ['mx.ta.test']);
    assert.equal(notInChain.ok, false, 'a TA the server does not present is not found');
    const forged = verifyDane(peerOf([ee.cert, ca.cert]), [rec(2, 0, 1, sha256(der(ca.cert)))], ['mx.ee.test']);
    assert.match(!forged.ok ? forged.reason : '', /not signed by the next/);
  });

  it('DANE-TA naming the server\'s own self-signed certificate matches, with its name checked', () => {
    assert.deepEqual(verifyDane(peerOf([ee.cert]), [rec(2, 0, 0, der(ee.cert))], ['mx.ee.test']), { ok: true, record: '2 0 0' });
    assert.equal(verifyDane(peerOf([ee.cert]), [rec(2, 0, 0, der(ee.cert))], ['mx.other.test']).ok, false);
  });
});

describe('relay/deliver/smtp: DANE through the relay', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let dns: TestDns;
  let eeSink: TestSink;
  let taSink: TestSink;
  let plainSink: TestSink;
  let relay: Awaited<ReturnType<typeof spawnRelay>> | undefined;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const ee = await certificate('mx.ee.test');
    const other = await certificate('mx.other.test');
    const ca = await certificate('Test DANE CA', { isCa: true });
    const leaf = await certificate('mx.ta.test', { ca });
    // two next hops on one port (outbound.port is one for all MX hosts), on two loopback addresses
    eeSink = await startSink({ tls: ee });
    taSink = await startSink({ tls: chain(leaf, ca), address: '127.0.0.2', port: eeSink.port });
    plainSink = await startSink({ address: '127.0.0.3', port: eeSink.port });
    const tlsa = (usage: number, selector: number, matchingType: number, data: Buffer): TlsaRecord[] => [{ usage, selector, matchingType, data }];
    const eeRecord = tlsa(3, 1, 1, sha256(spki(ee.cert)));
    const mx = (host: string) => ({ mx: [[10, host]] as [number, string][] });
    dns = await startDns({
      'ee.test': mx('mx.ee.test'),
      'mx.ee.test': { a: ['127.0.0.1'] },
      '_25._tcp.mx.ee.test': { tlsa: eeRecord },
      'bad.test': mx('mx.bad.test'),
      'mx.bad.test': { a: ['127.0.0.1'] },
      '_25._tcp.mx.bad.test': { tlsa: tlsa(3, 1, 1, sha256(spki(other.cert))) },
      'unsigned.test': mx('mx.unsigned.test'),
      'mx.unsigned.test': { a: ['127.0.0.1'] },
      '_25._tcp.mx.unsigned.test': { tlsa: tlsa(3, 1, 1, sha256(spki(other.cert))), authenticated: false },
      'absent.test': mx('mx.absent.test'),
      'mx.absent.test': { a: ['127.0.0.1'] },
      '_25._tcp.mx.absent.test': {},
      'ta.test': mx('mx.ta.test'),
      'mx.ta.test': { a: ['127.0.0.2'] },
      '_25._tcp.mx.ta.test': { tlsa: tlsa(2, 0, 1, sha256(der(ca.cert))) },
      'tawrong.test': mx('mx.tawrong.test'),
      'mx.tawrong.test': { a: ['127.0.0.2'] },
      '_25._tcp.mx.tawrong.test': { tlsa: tlsa(2, 0, 1, sha256(der(ca.cert))) },
      // TLSA records that do not match, signed, under an MX RRset that is not: DANE does not apply
      'unsignedmx.test': { ...mx('mx.unsignedmx.test'), authenticated: false },
      'mx.unsignedmx.test': { a: ['127.0.0.1'] },
      '_25._tcp.mx.unsignedmx.test': { tlsa: tlsa(3, 1, 1, sha256(spki(other.cert))) },
      'notls.test': mx('mx.notls.test'),
      'mx.notls.test': { a: ['127.0.0.3'] },
      '_25._tcp.mx.notls.test': { tlsa: eeRecord },
      'broken.test': mx('mx.broken.test'),
      'mx.broken.test': { a: ['127.0.0.1'] },
      '_25._tcp.mx.broken.test': { servfail: true },
    }, { authenticated: true });
    const file = await writeConfig(dir, baseConfig({
      log: { level: 'info' },
      actions: { out: { type: 'relay' } },
      rules: [{ from: 'any', for: 'any', action: 'out' }],
      outbound: {
        resolver: { servers: [dns.server], timeoutSeconds: 1 },
        port: eeSink.port,
        family: 'inet4',
        dane: true,
        retry: { minSeconds: 60, maxSeconds: 60 },
      },
    }));
    relay = await spawnRelay(file);
  });
  after(async () => {
    await killChild(relay?.child);
    await Promise.all([eeSink?.close(), taSink?.close(), plainSink?.close(), dns?.close()]);
    await cleanup?.();
  });

  const send = (to: string) => new RelayChild(relay!).send(to);
  const events = () => new RelayChild(relay!).events();
  const attempt = (to: string) => new RelayChild(relay!).attempt(to);
  const metric = (result: string) => new RelayChild(relay!).metric('kubemta_dane_total', `result="${result}"`);

  it('a matching DANE-EE record: delivered over TLS, logged `dane: verified` and counted', async () => {
    await send('x@ee.test');
    const got = await until('delivery to mx.ee.test', () => eeSink.received.find((m) => m.to.includes('x@ee.test')), 10_000);
    assert.equal(got.secure, true);
    const line = await until('the dane log line', () => events().find((e) => e.msg === 'dane: verified' && e.mta === 'mx.ee.test[127.0.0.1]'), 5000);
    assert.equal(line.tlsa, '3 1 1');
    assert.ok(line.qid, 'the line carries the queue id');
    assert.ok((await metric('verified')) >= 1);
  });

  it('a DANE-EE record that does not match: deferred 4.7.5, nothing sent', async () => {
    await send('y@bad.test');
    const e = await attempt('y@bad.test');
    assert.equal(e.result, 'deferred');
    assert.match(String(e.detail), /^4\.7\.5 .*mx\.bad\.test\[127\.0\.0\.1\]: DANE: no TLSA record \(3 1 1\) matches/);
    assert.ok(!eeSink.received.some((m) => m.to.includes('y@bad.test')));
    assert.ok((await metric('failed')) >= 1);
  });

  it('TLSA records without the AD bit are ignored: delivered under the usual policy, logged', async () => {
    await send('z@unsigned.test');
    await until('delivery to mx.unsigned.test', () => eeSink.received.find((m) => m.to.includes('z@unsigned.test')), 10_000);
    await until('the dane: ignored log line', () => events().find((e) => e.dane === 'ignored' && e.mta === 'mx.unsigned.test'), 5000);
    assert.ok((await metric('ignored')) >= 1);
  });

  it('an MX RRset without the AD bit: DANE does not apply to its hosts', async () => {
    await send('s@unsignedmx.test');
    await until('delivery to mx.unsignedmx.test', () => eeSink.received.find((m) => m.to.includes('s@unsignedmx.test')), 10_000);
  });

  it('no TLSA records (authenticated NODATA): delivered under the usual policy', async () => {
    await send('w@absent.test');
    await until('delivery to mx.absent.test', () => eeSink.received.find((m) => m.to.includes('w@absent.test')), 10_000);
    assert.ok(!events().some((e) => String(e.mta ?? '').startsWith('mx.absent.test') && e.dane));
  });

  it('DANE-TA: a chain under the TLSA-named CA is verified; the same chain for another MX name is deferred 4.7.5', async () => {
    await send('v@ta.test');
    const got = await until('delivery to mx.ta.test', () => taSink.received.find((m) => m.to.includes('v@ta.test')), 10_000);
    assert.equal(got.secure, true);
    // the log line follows the 250 the sink already sent: wait for it
    await until('the dane log line for mx.ta.test', () => events().find((e) => e.msg === 'dane: verified' && e.tlsa === '2 0 1'), 5000);
    await send('u@tawrong.test');
    const e = await attempt('u@tawrong.test');
    assert.match(String(e.detail), /^4\.7\.5 .*not issued to mx\.tawrong\.test or tawrong\.test/);
  });

  it('a DANE host that offers no STARTTLS: deferred 4.7.5, never sent in plaintext', async () => {
    await send('p@notls.test');
    const e = await attempt('p@notls.test');
    assert.equal(e.result, 'deferred');
    assert.match(String(e.detail), /^4\.7\.5 .*mx\.notls\.test\[127\.0\.0\.3\]/);
    assert.equal(plainSink.received.length, 0);
  });

  it('a TLSA lookup that fails makes the host unusable: deferred, never sent without DANE', async () => {
    await send('t@broken.test');
    const e = await attempt('t@broken.test');
    assert.match(String(e.detail), /^4\.4\.3 no MX host of broken\.test is usable: TLSA lookups failed/);
    assert.ok(!eeSink.received.some((m) => m.to.includes('t@broken.test')));
    assert.ok((await metric('unusable')) >= 1);
  });
});
