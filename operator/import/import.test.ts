// smtpd.conf → kubemta objects: the seed article in both grammars gives the hand-written example's objects
// (up to names), Debian's shipped config imports, and everything without an equivalent is reported.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { copyFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { tempDir } from '../../test/harness.ts';
import { seedDocuments } from '../../test/render-kit.ts';
import { render } from '../render/render.ts';
import { snapshotFromDocuments } from '../render/documents.ts';
import { ImportError } from './findings.ts';
import { importSmtpdConf } from './import.ts';
import { canonical, FIXTURES, importFixture } from '../../test/import-kit.ts';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const docsOf = (r: { docs: { doc: unknown }[] }) => r.docs.map((d) => d.doc as Any);

async function importText(text: string, files: Record<string, string> = {}) {
  const { dir, cleanup } = await tempDir('kubemta-import-');
  for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);
  try {
    return importSmtpdConf(text, join(dir, 'smtpd.conf'), { tablesDir: dir, hostname: 'mx.example.org' });
  } finally {
    await cleanup();
  }
}

describe('operator/import', () => {
  it('imports the seed smtpd.conf (old grammar) into the objects of examples/seed/k8s, up to names', () => {
    const mine = canonical(docsOf(importFixture('seed/smtpd.conf')) as never);
    const example = canonical(seedDocuments() as never);
    const onlyMine = mine.filter((m) => !example.includes(m));
    const onlyExample = example.filter((m) => !mine.includes(m));
    // the three differences, each a choice of the hand-written example that smtpd.conf does not state:
    // authenticated relaying (the seed relays mail tagged remote), a login for max.muster (smtpd.conf
    // keeps credentials in the table), and Listing 3's priority (any value after Listing 2's keeps the order)
    assert.equal(onlyMine.length, 3, onlyMine.join('\n'));
    assert.match(onlyMine.find((m) => m.startsWith('MailServer'))!, /"relayFrom":\{"authenticated":false,"tags":\["remote"\]\}/);
    assert.match(onlyExample.find((m) => m.startsWith('MailServer'))!, /"relayFrom":\{"authenticated":true,"tags":\["remote"\]\}/);
    assert.match(onlyExample.find((m) => m.startsWith('VirtualUser'))!, /"address":"max\.muster@example\.org".*"login"/);
    assert.equal(onlyMine.find((m) => m.startsWith('VirtualUser')), onlyExample.find((m) => m.startsWith('VirtualUser'))!.replace(/"login":\{[^}]*\}\},/, ''));
    assert.match(onlyMine.find((m) => m.startsWith('MailDomain'))!, /"priority":20/);
    assert.match(onlyExample.find((m) => m.startsWith('MailDomain'))!, /"priority":100/);
    const domains = docsOf(importFixture('seed/smtpd.conf')).filter((d) => d.kind === 'MailDomain');
    assert.deepEqual(domains.map((d) => [d.metadata.name, d.spec.priority]), [['example-org', 10], ['domains', 20]]);
  });

  it('reports the seed\'s Listing 1 quirks: no interface after "listen on", pki without a certificate', () => {
    const { findings } = importFixture('seed/smtpd.conf');
    assert.deepEqual(findings.map((f) => `${f.line} ${f.kind}`), ['8 changed', '9 changed', '11 changed', '12 changed', '13 changed']);
    assert.match(findings[4].reason, /port 25 on every address is line 11's, so this one listens on 127\.0\.0\.1/);
    assert.match(findings[0].reason, /self-signs/);
  });

  it('imports the current-grammar seed into the same objects as the old one', () => {
    const current = importFixture('seed-current/smtpd.conf', { tablesDir: join(FIXTURES, 'seed') });
    const old = importFixture('seed/smtpd.conf');
    assert.deepEqual(docsOf(current), docsOf(old));
    assert.deepEqual(current.findings.map((f) => f.what), ['pki post', 'pki mail']);
  });

  it('imports the smtpd.conf Debian\'s opensmtpd package ships (6.8.0p2)', () => {
    const r = importFixture('debian/smtpd.conf', { hostname: 'mail.example.org' });
    const [server, listener, ...rest] = docsOf(r);
    assert.equal(rest.length, 0);
    assert.equal(server.metadata.name, 'mail');
    assert.deepEqual(server.spec.local.delivery, 'maildir');
    assert.deepEqual(server.spec.local.aliases.postmaster, ['root']);
    assert.deepEqual(server.spec.outbound.relayFrom, { authenticated: false, networks: ['127.0.0.0/8', '::1/128'] });
    assert.deepEqual(listener.spec, { mailServerRef: { name: 'mail' }, port: 25, address: '127.0.0.1', tls: { mode: 'none' }, service: { type: 'None' } });
    assert.deepEqual(r.findings, []);
    // without --hostname: reported, not guessed from this machine
    assert.match(importFixture('debian/smtpd.conf').findings[0].reason, /names none/);
  });

  it('takes certificate and key files from --tables-dir into a kubernetes.io/tls Secret, hostnames from the certificate', async () => {
    const { dir, cleanup } = await tempDir('kubemta-import-');
    execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', join(dir, 'mx.key'), '-out', join(dir, 'mx.crt'), '-days', '30', '-subj', '/CN=mx.example.org', '-addext', 'subjectAltName=DNS:mx.example.org,DNS:smtp.example.org'], { stdio: 'ignore' });
    await copyFile(join(FIXTURES, 'seed/smtpd_remote'), join(dir, 'creds'));
    const text = 'pki mx cert "/etc/ssl/mx.crt"\npki mx key "/etc/ssl/private/mx.key"\ntable creds file:/etc/mail/creds\nlisten on all smtps pki mx auth <creds> hostname mx.example.org\n';
    const r = importSmtpdConf(text, join(dir, 'smtpd.conf'), { tablesDir: dir, namespace: 'mail' });
    await cleanup();
    const docs = docsOf(r);
    const tls = docs.find((d) => d.kind === 'Secret' && d.type === 'kubernetes.io/tls')!;
    assert.equal(tls.metadata.name, 'mx-tls');
    assert.match(tls.stringData['tls.crt'], /BEGIN CERTIFICATE/);
    assert.match(tls.stringData['tls.key'], /PRIVATE KEY/);
    assert.deepEqual(docs.find((d) => d.kind === 'PkiCert')!.spec, { hostnames: ['mx.example.org', 'smtp.example.org'], secretName: 'mx-tls' });
    const l = docs.find((d) => d.kind === 'Listener')!;
    assert.deepEqual([l.metadata.name, l.spec.port, l.spec.tls.mode, l.spec.auth], ['submission', 465, 'implicit', { required: true, credentialsSecretRef: { name: 'creds' } }]);
    assert.ok(docs.every((d) => d.metadata.namespace === 'mail'));
    assert.deepEqual(r.findings, []);
  });

  it('maps `srs key` and `srs key backup` onto outbound.srs and a Secret with the keys, primary first', async () => {
    const r = await importText(
      [
        'srs key backup "older-secret-0123456789"',
        'srs key "first-secret-0123456789"',
        'srs ttl 7d',
        'listen on all',
        'action "out" relay srs',
        'match auth from any for any action "out"',
      ].join('\n'),
    );
    const docs = docsOf(r);
    assert.deepEqual(docs[0].spec.outbound, { srs: { keySecretRef: { name: 'mx-srs' }, maxAgeDays: 7 }, relayFrom: { authenticated: true } });
    const secret = docs.find((d) => d.kind === 'Secret' && d.metadata.name === 'mx-srs')!;
    assert.deepEqual(secret.stringData, { keys: 'first-secret-0123456789\nolder-secret-0123456789\n' });
    assert.deepEqual(r.findings, []);
    // the operator renders it: the key Secret found, the relay config names the mounted key file
    const out = render(snapshotFromDocuments(docs).snapshot);
    assert.equal(out.servers[0].held, false, out.servers[0].problems.join('; '));
    assert.deepEqual((out.servers[0].config as Any).outbound.srs, { domain: 'mx.example.org', keyFile: '/etc/kubemta/secrets/srs-key', maxAgeDays: 7 });
  });

  it('reports what SRS settings cannot carry: relay actions without `srs`, short keys, part days, options without a key', async () => {
    const r = await importText(['srs key "short"', 'srs ttl 36h', 'listen on all', 'action "out" relay', 'match auth from any for any action "out"'].join('\n'));
    const docs = docsOf(r);
    assert.deepEqual(docs[0].spec.outbound.srs, { keySecretRef: { name: 'mx-srs' }, maxAgeDays: 2 });
    assert.deepEqual(r.findings.map((f) => `${f.line} ${f.kind} ${f.what}`), ['1 changed srs key', '1 changed srs key', '2 changed srs ttl']);
    assert.match(r.findings.map((f) => f.reason).join('\n'), /at least 16 characters/);
    assert.match(r.findings.map((f) => f.reason).join('\n'), /not only through relay actions with the `srs` option \(line 4 has none\)/);
    assert.ok(!JSON.stringify(r.findings).includes('"short"'), 'never the key');

    const off = await importText(['srs key backup "older-secret-0123456789"', 'listen on all', 'action "out" relay srs', 'match auth from any for any action "out"'].join('\n'));
    assert.equal(docsOf(off)[0].spec.outbound.srs, undefined);
    assert.equal(docsOf(off).filter((d) => d.kind === 'Secret').length, 0);
    assert.deepEqual(off.findings.map((f) => `${f.line} ${f.kind} ${f.what}`), ['1 dropped srs key backup', '3 dropped srs']);
  });

  it('maps relay actions onto outbound: smarthost, its credentials Secret, TLS policy, EHLO name, networks', async () => {
    const r = await importText(
      [
        'table secrets file:/etc/mail/secrets',
        'table lan { 10.0.0.0/8, 192.168.1.0/24 }',
        'listen on all',
        'action "out" relay host smtp+tls://bob@smtp.example.net:587 auth <secrets> helo out.example.org',
        'action "dovecot" lmtp "dovecot.mail.svc:24" rcpt-to virtual { "@example.org" = "vmail" }',
        'match from src <lan> for any action "out"',
        'match auth from any for any action "out"',
        'match from any for domain "example.org" action "dovecot"',
        'action "backup" relay host smtp://10.0.0.5',
        'match from any for domain "example.io" action "backup"',
        'smtp max-message-size 10M',
        'queue ttl 2d',
      ].join('\n'),
      { secrets: 'alice alice:pw1\nbob bob@example.net:s3cret\n' },
    );
    const docs = docsOf(r);
    const server = docs[0];
    assert.deepEqual(server.spec.outbound, {
      smarthost: 'smtp://smtp.example.net:587',
      tls: 'verify',
      heloName: 'out.example.org',
      smarthostAuth: { username: 'bob@example.net', passwordSecretRef: { name: 'secrets-smarthost' } },
      relayFrom: { authenticated: true, networks: ['10.0.0.0/8', '192.168.1.0/24'] },
    });
    assert.deepEqual(server.spec.limits, { maxMessageBytes: 10 * 1024 * 1024, queueLifetimeSeconds: 2 * 86400 });
    assert.deepEqual(docs.find((d) => d.metadata.name === 'secrets-smarthost')!.stringData, { password: 's3cret' });
    const domain = docs.find((d) => d.kind === 'MailDomain')!;
    assert.deepEqual(domain.spec.delivery, { type: 'lmtp', lmtp: { host: 'dovecot.mail.svc', port: 24, rcptTo: 'address' } });
    assert.equal(domain.spec.catchAll, 'vmail');
    const relayed = docs.find((d) => d.metadata.name === 'example-io')!;
    assert.deepEqual(relayed.spec.delivery, { type: 'relay', relay: { smarthost: 'smtp://10.0.0.5:25' } });
    assert.equal(docs.filter((d) => d.kind === 'Secret').length, 1);
    assert.deepEqual(r.findings.map((f) => `${f.line} ${f.kind}`), ['8 changed', '10 changed', '10 changed']);
    assert.match(r.findings[2].reason, /system users \(getpwnam\) have no kubemta equivalent: MailDomain "example-io" takes mail only for its VirtualUsers/);
    assert.match(r.findings[0].reason, /rule order: kubemta decides local names and MailDomains before relaying, so line 6 no longer/);
  });

  it('reports every rule, target and table line it cannot import, and imports the rest', async () => {
    const r = await importText(
      [
        'table aliases file:/etc/aliases',
        'table creds file:/etc/creds',
        'table virt file:/etc/virt',
        'listen on 192.0.2.1 tls pki x auth <creds>',
        'pki x cert "/nope.crt"',
        'action "local" mbox alias <aliases>',
        'action "mda" mda "/usr/bin/procmail"',
        'action "vm" maildir virtual <virt>',
        'action "relay" relay',
        'match from any for any action "relay"',
        'match for local action "local"',
        'match from any for domain "example.org" rcpt-to <vips> action "vm"',
        'match from any for domain "example.com" action "mda"',
        'match from any for domain "example.net" action "vm"',
        'match from any !for domain "example.io" reject',
      ].join('\n'),
      {
        aliases: 'postmaster: root\nbackup: |/usr/local/bin/archive\nroot: max, /var/log/root.mbox\n',
        creds: 'max $2b$10$r47TQpDWi53asfXX6R9equ9C2KR1G8SMTx/t4V7WlEmLZDdMWo9qe\nold $1$md5$hash\n',
        virt: 'a@example.net a\nb@example.com b\n@example.net catchall@example.net\n',
      },
    );
    const got = r.findings.map((f) => `${f.file ?? 'smtpd.conf'}:${f.line} ${f.kind} ${f.what}`);
    assert.deepEqual(got, [
      'smtpd.conf:4 changed listen on 192.0.2.1',
      'smtpd.conf:5 changed pki x',
      'smtpd.conf:10 dropped match from any for any action "relay"',
      'smtpd.conf:12 dropped match from any for domain "example.org" rcpt-to <vips> action "vm"',
      'smtpd.conf:13 dropped match from any for domain "example.com" action "mda"',
      'smtpd.conf:15 dropped match from any ! for domain "example.io" reject',
      'aliases:2 dropped backup: |/usr/local/bin/archive',
      'aliases:3 dropped root: /var/log/root.mbox',
      'creds:2 dropped user "old"',
      'virt:2 dropped b@example.com',
    ]);
    const reasons = Object.fromEntries(r.findings.map((f) => [`${f.file ?? ''}${f.line}`, f.reason]));
    assert.match(reasons['10'], /open relay/);
    assert.match(reasons['12'], /rcpt-to: kubemta's rules do not match on this/);
    assert.match(reasons['13'], /MDA/);
    assert.match(reasons['15'], /negated for/);
    assert.match(reasons['creds2'], /neither bcrypt nor/);
    const docs = docsOf(r);
    assert.deepEqual(docs[0].spec.local.aliases, { postmaster: ['root'], root: ['max'] });
    assert.equal(docs.find((d) => d.kind === 'Secret')!.stringData.credentials.trim().split('\n').length, 1);
    assert.deepEqual(docs.filter((d) => d.kind === 'VirtualUser').map((d) => d.spec.address), ['a@example.net']);
  });

  it('fails on what makes the output useless: a missing table source, auth without TLS', async () => {
    await assert.rejects(importText('table aliases db:/etc/mail/aliases.db\nlisten on all\naccept for local alias <aliases> deliver to mbox\n'), (err: Error) => {
      assert.ok(err instanceof ImportError);
      assert.match(err.message, /smtpd\.conf:1: table "aliases" \(db:\/etc\/mail\/aliases\.db\): its source .*\/aliases is not there/);
      return true;
    });
    await assert.rejects(importText('listen on all port 587 auth\n'), /smtpd\.conf:1: auth needs tls/);
  });
});
