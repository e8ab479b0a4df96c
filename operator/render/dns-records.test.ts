// The DNS records a MailDomain needs (status.dnsRecords, `kubemta render --dns`) and the DKIM keys the
// operator keeps for it: what is published, what signs, what waits, and how a rotation walks.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, createPublicKey, generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { render } from './render.ts';
import { txtStrings, txtText, txtValue, type DnsRecord } from './dns-records.ts';
import { dkimSecretManifest, planRotation, type DkimKey } from './dkim-keys.ts';
import { secretFromDocument } from './documents.ts';
import { validateObject } from '../api/validate.ts';
import type { MailDomain } from '../api/maildomain.ts';
import { build, SEED_DIR, seedSnapshot } from '../../test/render-kit.ts';
import type { Snapshot } from './snapshot.ts';

const KUBEMTA = new URL('../../bin/kubemta', import.meta.url).pathname;
const GOLDEN = new URL('./testdata/seed-dns.zone', import.meta.url).pathname;
type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const rsaPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const edPem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' }).toString();
const T0 = Date.parse('2026-12-01T00:00:00Z');
const iso = (t: number) => new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');

function recordsOf(out: ReturnType<typeof render>, name: string): DnsRecord[] {
  return out.verdicts.get(`MailDomain/default/${name}`)!.status.dnsRecords as DnsRecord[];
}

/** One server with a port-25 Listener and MailDomain "shop" (shop.example), its key Secret as the operator writes it. */
function shop(keys: DkimKey[] | null, domainSpec: Any = {}, serverSpec: Any = {}): Snapshot {
  const s: Snapshot = { mailServers: [build.server('post', serverSpec)], listeners: [build.listener('in', { hostname: 'mx.shop.example' })], pkiCerts: [], mailDomains: [build.domain('shop', { domains: ['shop.example'], ...domainSpec })], virtualUsers: [], secrets: [] };
  if (keys) s.secrets.push(secretFromDocument(dkimSecretManifest({ apiVersion: 'kubemta.io/v1alpha1', metadata: { name: 'shop' } }, 'post', keys, new Map(keys.map((k) => [k.selector, k.algorithm === 'rsa' ? rsaPem : edPem])))));
  return s;
}

const key = (n: number, algorithm: 'rsa' | 'ed25519', life: Partial<DkimKey> = {}): DkimKey => ({ selector: `kubemta-${n}-${algorithm}`, algorithm, n, created: iso(T0), ...life });

describe('operator/render: DNS records', () => {
  it('kubemta render --dns prints the seed\'s records offline: exactly the golden zone, MX at the port-25 Listener\'s host', () => {
    const r = spawnSync(KUBEMTA, ['render', '-f', SEED_DIR, '--dns'], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, readFileSync(GOLDEN, 'utf8'));
    const lines = r.stdout.split('\n');
    for (const d of ['example.org', 'example.net', 'example.com']) {
      assert.ok(lines.includes(`${d}.\t3600\tIN\tMX\t10 post.example.org.`), d);
      assert.ok(lines.includes(`${d}.\t3600\tIN\tTXT\t"v=spf1 mx ~all"`), d);
      assert.ok(lines.includes(`_dmarc.${d}.\t3600\tIN\tTXT\t"v=DMARC1; p=none"`), d);
      assert.ok(lines.includes(`_smtp._tls.${d}.\t3600\tIN\tTXT\t"v=TLSRPTv1; rua=mailto:postmaster@${d}"`), d);
    }
    const policy = 'version: STSv1\nmode: testing\nmx: post.example.org\nmax_age: 604800\n';
    const id = createHash('sha256').update(policy).digest('hex').slice(0, 20);
    assert.ok(lines.includes(`_mta-sts.example.org.\t3600\tIN\tTXT\t"v=STSv1; id=${id}"`));
    assert.match(r.stdout, /no DNS records for \*\.example\.org/);
    assert.match(r.stdout, /example\.org: its records are listed by MailDomain "brands"/);
  });

  it('splits a TXT text into quoted strings of at most 255 octets, escaping quotes, and joins them back', () => {
    const long = 'v=DKIM1; k=rsa; p=' + 'A'.repeat(600) + '"\\';
    const v = txtValue(long);
    const strings = txtStrings(v);
    assert.deepEqual(strings.map((x) => Buffer.byteLength(x, 'latin1')), [255, 255, 108 + 2]);
    assert.equal(txtText(v), long);
    assert.equal(txtValue('short'), '"short"');
  });

  it('publishes every key of the operator\'s Secret and signs with the signing ones only; the relay mounts the Secret whole', () => {
    const keys = [key(1, 'rsa', { signing: iso(T0) }), key(2, 'rsa')];
    const out = render(shop(keys), { requirePkiSecrets: true });
    const recs = recordsOf(out, 'shop').filter((r) => r.purpose === 'dkim');
    assert.deepEqual(recs.map((r) => r.name), ['kubemta-1-rsa._domainkey.shop.example', 'kubemta-2-rsa._domainkey.shop.example']);
    const spki = createPublicKey(rsaPem).export({ type: 'spki', format: 'der' }).toString('base64');
    assert.equal(txtText(recs[0].value), `v=DKIM1; k=rsa; p=${spki}`);
    assert.ok(txtStrings(recs[0].value).every((x) => x.length <= 255) && txtStrings(recs[0].value).length === 2, recs[0].value);
    const sr = out.servers[0];
    assert.equal(sr.held, false, sr.problems.join('; '));
    assert.deepEqual(sr.config!.outbound.dkim, [{ domain: 'shop.example', selector: 'kubemta-1-rsa', keyFile: '/etc/kubemta/dkim/kubemta-1-rsa.shop.key' }]);
    const pod = (sr.manifests.find((m) => m.kind === 'Deployment') as Any).spec.template.spec;
    assert.deepEqual(pod.volumes.find((v: Any) => v.name === 'dkim'), { name: 'dkim', projected: { defaultMode: 0o440, sources: [{ secret: { name: 'shop-dkim' } }] } });
    const st = out.verdicts.get('MailDomain/default/shop')!.status;
    assert.deepEqual([st.dkimSecretName, st.dkimSigning, st.dkimPublished], ['shop-dkim', 'kubemta-1-rsa', 'kubemta-1-rsa,kubemta-2-rsa']);
    assert.doesNotMatch(JSON.stringify([...out.verdicts.values()]), /PRIVATE KEY/);
  });

  it('publishes an Ed25519 key as its raw 32 bytes (RFC 8463)', () => {
    const out = render(shop([key(1, 'ed25519', { signing: iso(T0) })], { dkim: { algorithm: 'ed25519' } }));
    const rec = recordsOf(out, 'shop').find((r) => r.purpose === 'dkim')!;
    const raw = createPublicKey(edPem).export({ type: 'spki', format: 'der' }).subarray(-32).toString('base64');
    assert.equal(rec.value, `"v=DKIM1; k=ed25519; p=${raw}"`);
  });

  it('holds the server in the operator until the key Secret exists, naming spec.dkim; offline it renders without', () => {
    const held = render(shop(null), { requirePkiSecrets: true });
    assert.equal(held.servers[0].held, true);
    const v = held.verdicts.get('MailDomain/default/shop')!;
    assert.equal(v.reason, 'SecretNotFound');
    assert.equal(v.waiting, true);
    assert.match(v.message, /spec\.dkim: waiting for the operator to generate the key Secret "shop-dkim"/);
    // the server waits with it: nothing is invalid, so no HeldByInvalidObjects and no Warning (Reconciling)
    const sv = held.verdicts.get('MailServer/default/post')!;
    assert.deepEqual([sv.ready, sv.reason, sv.waiting], [false, 'WaitingForMembers', true]);
    assert.match(sv.message, /MailDomain\/shop: spec\.dkim: waiting for the operator to generate the key Secret/);
    const mixed = shop(null);
    mixed.virtualUsers.push(build.user('bad', { mailDomainRef: { name: 'shop' }, address: 'bad@shop.example', mailbox: undefined }));
    assert.equal(render(mixed, { requirePkiSecrets: true }).verdicts.get('MailServer/default/post')!.reason, 'HeldByInvalidObjects', 'an invalid member too: held by it');
    const offline = render(shop(null));
    assert.equal(offline.servers[0].held, false);
    assert.equal(offline.servers[0].config!.outbound.dkim ?? undefined, undefined);
  });

  it('wants no keys for a domain that does not send mail out (nobody may relay) or says dkim.enabled: false', () => {
    const noRelay = render(shop(null, {}, { outbound: { relayFrom: { authenticated: false } } }), { requirePkiSecrets: true });
    assert.equal(noRelay.servers[0].held, false, noRelay.servers[0].problems.join('; '));
    const off = render(shop(null, { dkim: { enabled: false } }), { requirePkiSecrets: true });
    assert.equal(off.servers[0].held, false);
    const on = render(shop(null, { dkim: { enabled: true } }, { outbound: { relayFrom: { authenticated: false } } }), { requirePkiSecrets: true });
    assert.equal(on.servers[0].held, true);
  });

  it('publishes the user\'s own key (MailServer spec.outbound.dkim) for its domain and generates none there', () => {
    const s = shop(null, {}, { outbound: { dkim: [{ domain: 'shop.example', selector: 'mine', privateKeySecretRef: { name: 'own', key: 'private.key' } }] } });
    s.secrets.push({ metadata: { name: 'own' }, data: { 'private.key': Buffer.from(edPem) } });
    const out = render(s, { requirePkiSecrets: true });
    assert.equal(out.servers[0].held, false, out.servers[0].problems.join('; '));
    assert.deepEqual(recordsOf(out, 'shop').filter((r) => r.purpose === 'dkim').map((r) => r.name), ['mine._domainkey.shop.example']);
  });

  it('takes DMARC, SPF, MTA-STS and TLS-RPT from the spec', () => {
    const out = render(shop(null, {
      dmarc: { policy: 'quarantine', subdomainPolicy: 'reject', percent: 50, reportTo: ['dmarc@shop.example'] },
      spf: { mechanisms: ['ip4:203.0.113.7'], all: '-all' },
      mtaSts: { mode: 'enforce', maxAgeSeconds: 86400 },
      tlsRpt: { reportTo: ['tls@shop.example'] },
      dkim: { enabled: false },
    }));
    const text = Object.fromEntries(recordsOf(out, 'shop').filter((r) => r.type === 'TXT').map((r) => [r.name, txtText(r.value)]));
    assert.equal(text['shop.example'], 'v=spf1 mx ip4:203.0.113.7 -all');
    assert.equal(text['_dmarc.shop.example'], 'v=DMARC1; p=quarantine; sp=reject; pct=50; rua=mailto:dmarc@shop.example');
    assert.equal(text['_smtp._tls.shop.example'], 'v=TLSRPTv1; rua=mailto:tls@shop.example');
    assert.equal(out.verdicts.get('MailDomain/default/shop')!.status.mtaStsPolicy, 'version: STSv1\nmode: enforce\nmx: mx.shop.example\nmax_age: 86400\n');
  });
});

describe('operator/render: DKIM key rotation plan', () => {
  const domain = (dkim: Any, dns: Any = {}) => {
    const v = validateObject(structuredClone(build.domain('shop', { domains: ['shop.example'], dkim, dns } as never)));
    assert.ok(v.ok);
    return v.object as MailDomain;
  };
  const never = () => false;

  it('generates a first key per algorithm that signs at once (both: RSA and Ed25519)', () => {
    const p = planRotation(domain({ algorithm: 'both' }), [], T0, never);
    assert.deepEqual(p.generate.map((k) => [k.selector, !!k.signing]), [['kubemta-1-rsa', true], ['kubemta-1-ed25519', true]]);
  });

  it('walks a rotation: new key published, signs after publishFor, old one retires after overlap', () => {
    const d = domain({ rotation: { every: '60s', publishFor: '10s', overlap: '20s' } });
    let keys = [key(1, 'rsa', { signing: iso(T0) })];
    let p = planRotation(d, keys, T0 + 30_000, never);
    assert.deepEqual(p.generate, []);
    assert.equal(p.nextAt, T0 + 60_000);
    p = planRotation(d, keys, T0 + 60_000, never);
    assert.deepEqual(p.generate.map((k) => [k.selector, k.signing]), [['kubemta-2-rsa', undefined]]);
    keys = [...p.keys, ...p.generate];
    p = planRotation(d, keys, T0 + 65_000, never);
    assert.equal(p.nextAt, T0 + 70_000, 'signs 10 s after it was published');
    p = planRotation(d, keys, T0 + 70_000, never);
    assert.deepEqual(p.keys.map((k) => [k.selector, !!k.signing, !!k.retiring]), [['kubemta-1-rsa', true, true], ['kubemta-2-rsa', true, false]]);
    assert.equal(p.nextAt, T0 + 90_000);
    p = planRotation(d, p.keys, T0 + 90_000, never);
    assert.deepEqual(p.keys.map((k) => k.selector), ['kubemta-2-rsa']);
    assert.match(p.changes.join('\n'), /kubemta-1-rsa retired/);
  });

  it('with spec.dns.check, waits until the check has seen the new record, then publishFor', () => {
    const d = domain({ rotation: { every: '60s', publishFor: '10s', overlap: '20s' } }, { check: {} });
    const keys = [key(1, 'rsa', { signing: iso(T0) }), key(2, 'rsa', { created: iso(T0 + 60_000) })];
    let p = planRotation(d, keys, T0 + 120_000, never);
    assert.equal(p.keys[1].signing, undefined, 'not seen: keeps signing with the old key');
    p = planRotation(d, keys, T0 + 130_000, (s) => s === 'kubemta-2-rsa');
    assert.equal(p.keys[1].seen, iso(T0 + 130_000));
    assert.equal(p.nextAt, T0 + 140_000);
    p = planRotation(d, p.keys, T0 + 140_000, () => true);
    assert.ok(p.keys[1].signing && p.keys[0].retiring);
  });

  it('retires the keys of an algorithm taken out of spec.dkim.algorithm', () => {
    const p = planRotation(domain({ algorithm: 'ed25519' }), [key(1, 'rsa', { signing: iso(T0) })], T0, never);
    assert.ok(p.keys[0].retiring);
    assert.deepEqual(p.generate.map((k) => k.selector), ['kubemta-1-ed25519']);
  });
});
