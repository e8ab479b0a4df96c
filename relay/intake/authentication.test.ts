// Authentication on intake through real SMTP clients (swaks) into a relay whose DNS is a real server on
// loopback serving SPF, DKIM and DMARC records for the test domains; the delivered Maildir file shows
// the Authentication-Results the relay added.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createSocket, type Socket } from 'node:dgram';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import { baseConfig, startTestRelay, tempDir } from '../../test/harness.ts';
import { boxRouting, boxTable, fieldsNamed, headerOf, sendAndDeliver, sendWithSwaks, testMessage } from '../../test/intake-kit.ts';
import { startDns, type TestDns } from '../../test/dns-server.ts';
import { hashPassword } from '../auth/hash.ts';

const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
const DKIM_TXT = `v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`;

async function signed(domain: string, raw: string): Promise<string> {
  const key = { signingDomain: domain, selector: 'sel', privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }) as string };
  const r = await dkimSign(raw, { ...key, signatureData: [key] });
  assert.deepEqual(r.errors, []);
  return r.signatures + raw;
}

describe('relay/intake: authentication (SPF, DKIM, DMARC, ARC)', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let dns: TestDns;
  let silent: Socket;
  let t: Awaited<ReturnType<typeof startTestRelay>>;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    silent = createSocket('udp4');
    await new Promise<void>((resolve) => silent.bind(0, '127.0.0.1', resolve));
    dns = await startDns({
      'good.test': { txt: ['v=spf1 ip4:127.0.0.1 -all'] },
      '_dmarc.good.test': { txt: ['v=DMARC1; p=reject'] },
      'sel._domainkey.good.test': { txt: [DKIM_TXT] },
      'bad.test': { txt: ['v=spf1 ip4:192.0.2.1 -all'] },
      '_dmarc.bad.test': { txt: ['v=DMARC1; p=reject'] },
      'quarantined.test': { txt: ['v=spf1 -all'] },
      '_dmarc.quarantined.test': { txt: ['v=DMARC1; p=quarantine'] },
      // only the organizational domain publishes a policy: mail.org.test inherits it (sp=)
      'org.test': { txt: ['v=spf1 -all'] },
      '_dmarc.org.test': { txt: ['v=DMARC1; p=none; sp=reject'] },
      'mail.org.test': { txt: ['v=spf1 -all'] },
    });
    const config = baseConfig({
      ...boxRouting,
      tables: { ...boxTable, users: { type: 'credentials', entries: { max: await hashPassword('demo-password', 4) } } },
      listeners: [
        { name: 'mx', address: '127.0.0.1', port: 0, tls: 'none' },
        // the same checks, results only: a listener's override of the policy
        { name: 'lenient', address: '127.0.0.1', port: 0, tls: 'none', hostname: 'lenient.relay.test', intake: { authentication: { dmarcReject: 'none', dmarcQuarantine: 'none' } } },
        { name: 'submission', address: '127.0.0.1', port: 0, tls: 'starttls', pki: 'post', auth: 'users' },
        // DNS that refuses (nothing on the port), and DNS that never answers: the checks run out of time
        { name: 'blind', address: '127.0.0.1', port: 0, tls: 'none', intake: { authentication: { dnsServers: ['127.0.0.1:9'] } } },
        { name: 'stuck', address: '127.0.0.1', port: 0, tls: 'none', intake: { authentication: { dnsServers: [`127.0.0.1:${silent.address().port}`], timeoutSeconds: 0.5 } } },
      ],
      // the checks' own DNS server; onward delivery keeps baseConfig's resolver where nothing answers
      intake: { authentication: { enabled: true, dmarcReject: 'reject', dmarcQuarantine: 'mark', dnsServers: [dns.server] } },
    });
    t = await startTestRelay(dir, config);
  });
  after(async () => {
    await t?.relay.stop();
    await dns?.close();
    silent?.close();
    await cleanup?.();
  });

  const deliver = (listener: string, from: string, raw: string, subject: string, extra: string[] = []) =>
    sendAndDeliver(dir, join(dir, 'mail', 'maildir', 'box'), t.port(listener), from, raw, subject, extra);
  const authResults = (text: string) => fieldsNamed(text, 'Authentication-Results');
  const verdicts = async () => (await t.relay.relay.metrics.intakeVerdicts.get()).values.map((v) => `${v.labels.listener} ${v.labels.check} ${v.labels.verdict} ${v.value}`);

  it('a DKIM-signed mail from an SPF-listed address passes: one Authentication-Results with our authserv-id, above Received', async () => {
    const text = await deliver('mx', 'alice@good.test', await signed('good.test', testMessage('alice@good.test', 'all pass')), 'all pass');
    const ar = authResults(text);
    assert.equal(ar.length, 1, text);
    assert.match(ar[0], /^Authentication-Results: relay\.test;/);
    assert.match(ar[0], /dkim=pass[^;]*header\.i=@good\.test/);
    assert.match(ar[0], /spf=pass[^;]*smtp\.mailfrom=alice@good\.test/);
    assert.match(ar[0], /dmarc=pass[^;]*header\.from=good\.test/);
    assert.match(ar[0], /arc=none/);
    assert.ok(headerOf(text).indexOf('Authentication-Results:') < headerOf(text).indexOf('Received: from client.test'), 'our results above our Received:');
    assert.doesNotMatch(headerOf(text), /X-Spam-Flag/);
  });

  it('removes a forged Authentication-Results with our authserv-id and keeps another host\'s', async () => {
    const forged = [
      'Authentication-Results: relay.test; dkim=pass header.d=bank.test; dmarc=pass header.from=bank.test',
      'Authentication-Results: (a comment first) RELAY.TEST;\r\n spf=pass smtp.mailfrom=bank.test',
      'Authentication-Results: mx.elsewhere.test; spf=pass',
      'Authentication-Results: relay.test.elsewhere.test; spf=pass',
    ].join('\r\n');
    const text = await deliver('mx', 'alice@good.test', await signed('good.test', testMessage('alice@good.test', 'forged', forged)), 'forged');
    const ar = authResults(text);
    assert.equal(ar.length, 3, ar.join('\n---\n'));
    assert.match(ar[0], /^Authentication-Results: relay\.test;\n dkim=pass/, 'ours, and the removal left the signature intact');
    assert.deepEqual(ar.slice(1), ['Authentication-Results: mx.elsewhere.test; spf=pass', 'Authentication-Results: relay.test.elsewhere.test; spf=pass']);
    assert.doesNotMatch(text, /bank\.test/);
    // on a listener with another hostname, fields naming relay.test are another host's: kept
    const other = await deliver('lenient', 'eve@bad.test', testMessage('eve@bad.test', 'other id', forged), 'other id');
    assert.equal(authResults(other).length, 5);
    assert.match(authResults(other)[0], /^Authentication-Results: lenient\.relay\.test;/);
  });

  it('an unsigned mail from an address SPF does not list fails SPF and DMARC, and is delivered where the policy is results only', async () => {
    const text = await deliver('lenient', 'eve@bad.test', testMessage('eve@bad.test', 'spf fail'), 'spf fail');
    const [ar] = authResults(text);
    assert.match(ar, /spf=fail[^;]*smtp\.mailfrom=eve@bad\.test/);
    assert.match(ar, /dkim=none/);
    assert.match(ar, /dmarc=fail[^;]*p=REJECT[^;]*header\.from=bad\.test/);
    assert.doesNotMatch(headerOf(text), /X-Spam-Flag/);
  });

  it('honours p=reject with 550 5.7.1 at end of DATA, also inherited from the organizational domain; nothing queued', async () => {
    for (const from of ['eve@bad.test', 'eve@mail.org.test']) {
      const r = await sendWithSwaks(dir, t.port('mx'), from, testMessage(from, 'rejected'));
      assert.notEqual(r.code, 0);
      assert.match(r.transcript, /<\*\* 550 5\.7\.1 Rejected by the DMARC policy/, r.transcript);
    }
    assert.deepEqual(await readdir(join(dir, 'queue', 'messages')), []);
    assert.deepEqual(await readdir(join(dir, 'queue', 'incoming')), [], 'scratch and incoming files removed');
    assert.ok((await verdicts()).includes('mx dmarc rejected 2'), (await verdicts()).join('\n'));
  });

  it('marks a mail failing under p=quarantine with X-Spam-Flag: YES (and strips the sender\'s own)', async () => {
    const text = await deliver('mx', 'eve@quarantined.test', testMessage('eve@quarantined.test', 'quarantine', 'X-Spam-Flag: NO'), 'quarantine');
    assert.match(authResults(text)[0], /dmarc=fail[^;]*p=QUARANTINE/);
    assert.deepEqual(headerOf(text).match(/^X-Spam-Flag:.*$/gm), ['X-Spam-Flag: YES']);
    assert.ok((await verdicts()).includes('mx dmarc marked 1'));
  });

  it('skips the checks for a mail sent over an authenticated submission session, still removing forged results', async () => {
    const forged = 'Authentication-Results: relay.test; dmarc=pass header.from=bad.test';
    const text = await deliver('submission', 'eve@bad.test', testMessage('eve@bad.test', 'submitted', forged), 'submitted', ['-tls', '--auth', 'PLAIN', '--auth-user', 'max', '--auth-password', 'demo-password']);
    assert.deepEqual(authResults(text), []);
    assert.ok((await verdicts()).includes('submission authentication skipped-authenticated 1'));
  });

  it('DNS that fails gives temperror results, DNS that never answers gives none (timeout); no policy applies, the mail is queued', async () => {
    const refused = await deliver('blind', 'eve@bad.test', testMessage('eve@bad.test', 'dns refused'), 'dns refused');
    assert.match(authResults(refused)[0], /spf=temperror[^;]*;\n dmarc=temperror header\.from=bad\.test$/);
    const started = Date.now();
    const stuck = await deliver('stuck', 'eve@bad.test', testMessage('eve@bad.test', 'no dns'), 'no dns');
    assert.deepEqual(authResults(stuck), ['Authentication-Results: relay.test; none (timeout)']);
    assert.ok(Date.now() - started < 5000, `${Date.now() - started} ms`);
    assert.ok((await verdicts()).includes('stuck dmarc unevaluated 1'));
    assert.ok((await verdicts()).includes('blind dmarc results-temperror 1'), (await verdicts()).join(', '));
  });
});
