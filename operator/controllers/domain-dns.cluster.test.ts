// A MailDomain on its way to the internet, on a real API server: the operator generates its DKIM keys
// into an owned Secret, shows every record it needs in status.dnsRecords (the seed's too), checks them
// against a DNS server on loopback (DNSReady, naming what is missing), publishes them as an external-dns
// DNSEndpoint (the external-dns CRD installed for the test), and rotates the keys with both selectors
// verifying during the overlap.
//
// The signing is proved with the relay itself, run here as a local process (not a pod): its outbound.dkim
// is the one the operator rendered into the MailServer's ConfigMap, its key files are the operator's
// Secret written out as the pod's projected volume holds them, and a mail sent to it by SMTP is relayed
// to a local sink and verified by mailauth against the records in status, served by the loopback DNS.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';
import { readFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import nodemailer from 'nodemailer';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { ApiError, KubeClient, type KubeObjectLike, type Resource } from '../kube/client.ts';
import { Manager } from './manager.ts';
import { Resources } from '../api/resources.ts';
import { applyDocs, clusterEnabled, createNamespace, deleteNamespace, getOrUndefined, installCrds, operatorClient, silentLog, skipReason } from '../../test/cluster-kit.ts';
import { seedDocuments, seedSnapshot } from '../../test/render-kit.ts';
import { until } from '../../test/until.ts';
import { startDns, type TestDns, type Zone } from '../../test/dns-server.ts';
import { startSink, type TestSink } from '../../test/smtp-sink.ts';
import { baseConfig, startTestRelay, tempDir } from '../../test/harness.ts';
import { render } from '../render/render.ts';
import { txtStrings, txtText, type DnsRecord } from '../render/dns-records.ts';
import { dkimRecordText } from '../render/dkim-keys.ts';
import { makeResolver } from './dns-check.ts';

const CRD: Resource = { group: 'apiextensions.k8s.io', version: 'v1', plural: 'customresourcedefinitions', kind: 'CustomResourceDefinition' };
const EXTERNAL_DNS_CRD = new URL('../../test/fixtures/external-dns-crd.yaml', import.meta.url).pathname;
type Domain = KubeObjectLike & { spec: Record<string, any>; status?: { dnsRecords?: DnsRecord[]; dkimSigning?: string; dkimPublished?: string; dkimSecretName?: string; conditions?: { type: string; status: string; reason: string; message: string }[] } }; // eslint-disable-line @typescript-eslint/no-explicit-any
const api = 'kubemta.io/v1alpha1';

/** The zone a DNS admin would publish from dnsRecords (TXT as its strings, MX as preference and host). */
function zoneOf(records: DnsRecord[], skip: (r: DnsRecord) => boolean = () => false): Zone {
  const zone: Zone = {};
  for (const r of records) {
    if (skip(r)) continue;
    const e = (zone[r.name] ??= {});
    if (r.type === 'MX') {
      const [pref, host] = r.value.split(' ');
      (e.mx ??= []).push([Number(pref), host.replace(/\.$/, '')]);
    } else (e.txt ??= []).push(txtStrings(r.value));
  }
  return zone;
}

describe('MailDomain DNS records and DKIM keys on a real API server', { skip: clusterEnabled ? false : skipReason }, () => {
  let admin: KubeClient;
  let ns: string;
  let op: Awaited<ReturnType<typeof operatorClient>>;
  let manager: Manager;
  let dns: TestDns;
  let sink: TestSink;
  let tmp: Awaited<ReturnType<typeof tempDir>>;
  const relays: { stop: () => Promise<void> }[] = [];

  before(async () => {
    admin = await KubeClient.fromEnvironment(process.env.KUBECONFIG);
    await installCrds(admin);
    await admin.apply(CRD, '', yaml.load(readFileSync(EXTERNAL_DNS_CRD, 'utf8')) as KubeObjectLike, 'kubemta-tests', { force: true });
    await until('the DNSEndpoint CRD established', async () => (await admin.get<KubeObjectLike & { status?: { conditions?: { type: string; status: string }[] } }>(CRD, '', 'dnsendpoints.externaldns.k8s.io')).status?.conditions?.some((c) => c.type === 'Established' && c.status === 'True'), 60_000);
    ns = await createNamespace(admin, 'kubemta-dns');
    op = await operatorClient(admin, ns);
    dns = await startDns({});
    sink = await startSink();
    tmp = await tempDir('kubemta-dkim-');
    manager = new Manager({ client: op.client, log: silentLog, namespace: ns, leaderElection: false, relayCheck: false });
    await manager.start();
  });
  after(async () => {
    for (const r of relays) await r.stop();
    await manager?.stop();
    await op?.cleanup();
    if (ns) await deleteNamespace(admin, ns);
    await admin?.delete(CRD, '', 'dnsendpoints.externaldns.k8s.io').catch((err: unknown) => {
      if (!(err instanceof ApiError && err.status === 404)) throw err;
    });
    await dns?.close();
    await sink?.close();
    await tmp?.cleanup();
  });

  const domain = (name: string) => admin.get<Domain>(Resources.MailDomain, ns, name);
  const condition = (d: Domain, type: string) => d.status?.conditions?.find((c) => c.type === type);
  const secretData = async (name: string) => {
    const s = await getOrUndefined<KubeObjectLike & { data?: Record<string, string> }>(admin, Resources.Secret, ns, name);
    return Object.fromEntries(Object.entries(s?.data ?? {}).map(([k, v]) => [k, Buffer.from(v, 'base64')]));
  };

  it('shows the seed\'s records: what offline render prints, and a DKIM key per exact domain from the operator\'s Secret', async () => {
    await applyDocs(admin, ns, seedDocuments());
    const both = await until('both MailDomains list their records with DKIM keys', async () => {
      const ds = await Promise.all(['example-org', 'brands'].map(domain));
      const all = ds.flatMap((d) => d.status?.dnsRecords ?? []);
      return ['example.org', 'example.net', 'example.com'].every((x) => all.some((r) => r.purpose === 'dkim' && r.name.endsWith(`._domainkey.${x}`))) ? ds : undefined;
    }, 60_000);
    const records = both.flatMap((d) => d.status!.dnsRecords!);
    const offline = render(seedSnapshot()).servers[0].dns.flatMap((d) => d.records);
    const key = (r: DnsRecord) => `${r.type} ${r.name} ${r.value}`;
    assert.deepEqual(records.filter((r) => r.purpose !== 'dkim').map(key).sort(), offline.map(key).sort());
    for (const d of both) {
      const keys = await secretData(`${d.metadata.name}-dkim`);
      for (const r of d.status!.dnsRecords!.filter((x) => x.purpose === 'dkim')) {
        const selector = r.name.split('._domainkey.')[0];
        assert.equal(txtText(r.value), dkimRecordText(keys[`${selector}.${d.metadata.name}.key`]), r.name);
        assert.equal(selector, 'kubemta-1-rsa');
      }
    }
  });

  it('names each record missing from DNS in DNSReady, then True once published', async () => {
    await applyDocs(admin, ns, [
      { apiVersion: api, kind: 'MailServer', metadata: { name: 'out' }, spec: { hostname: 'mx.shop.example' } },
      { apiVersion: api, kind: 'Listener', metadata: { name: 'out-mx' }, spec: { mailServerRef: { name: 'out' }, port: 25, hostname: 'mx.shop.example', service: { name: 'out-mx' } } },
      {
        apiVersion: api,
        kind: 'MailDomain',
        metadata: { name: 'shop' },
        spec: { mailServerRef: { name: 'out' }, domains: ['shop.example'], dkim: { algorithm: 'both' }, dns: { check: { resolver: dns.server, interval: '2s' }, publish: 'external-dns' } },
      },
    ]);
    const missing = await until('DNSReady False naming the records', async () => {
      const d = await domain('shop');
      const c = condition(d, 'DNSReady');
      return c?.reason === 'RecordsMissing' && c.message.includes('kubemta-1-ed25519') ? d : undefined;
    }, 60_000);
    const dnsReady = condition(missing, 'DNSReady')!;
    assert.equal(dnsReady.reason, 'RecordsMissing');
    for (const r of missing.status!.dnsRecords!) assert.ok(dnsReady.message.includes(`${r.type} ${r.name}`), `${r.type} ${r.name} in: ${dnsReady.message}`);
    assert.match(dnsReady.message, /TXT kubemta-1-rsa\._domainkey\.shop\.example/);
    assert.match(dnsReady.message, /TXT kubemta-1-ed25519\._domainkey\.shop\.example/);
    assert.equal(condition(missing, 'Ready')?.status, 'True', 'DNSReady is its own condition: Ready is about mail flowing');

    // published, all but DMARC, and DMARC wrong
    Object.assign(dns.zone, zoneOf(missing.status!.dnsRecords!, (r) => r.purpose === 'dmarc'));
    dns.zone['_dmarc.shop.example'] = { txt: ['v=DMARC1; p=reject'] };
    const wrong = await until('DNSReady names the one different record', async () => {
      const c = condition(await domain('shop'), 'DNSReady');
      return c?.message.startsWith('different') ? c : undefined;
    }, 30_000);
    assert.equal(wrong.message, 'different: TXT _dmarc.shop.example (found "v=DMARC1; p=reject")');
    Object.assign(dns.zone, zoneOf(missing.status!.dnsRecords!));
    const ok = await until('DNSReady True', async () => {
      const c = condition(await domain('shop'), 'DNSReady');
      return c?.status === 'True' ? c : undefined;
    }, 30_000);
    assert.equal(ok.reason, 'RecordsPublished');
    assert.equal(ok.message, `all ${missing.status!.dnsRecords!.length} record(s) published`);
  });

  it('writes the records as a DNSEndpoint for external-dns, owned by the MailDomain', async () => {
    const d = await domain('shop');
    const ep = await until('DNSEndpoint shop-dns', () => getOrUndefined<KubeObjectLike & { spec: { endpoints: { dnsName: string; recordType: string; targets: string[]; recordTTL: number }[] } }>(admin, Resources.DNSEndpoint, ns, 'shop-dns'), 30_000);
    assert.equal((ep.metadata as { ownerReferences?: { uid: string }[] }).ownerReferences?.[0].uid, d.metadata.uid);
    const want = d.status!.dnsRecords!.map((r) => `${r.type} ${r.name} ${r.type === 'TXT' ? txtText(r.value) : r.value.replace(/\.$/, '')}`).sort();
    const got = ep.spec.endpoints.flatMap((e) => e.targets.map((t) => `${e.recordType} ${e.dnsName} ${t}`)).sort();
    assert.deepEqual(got, want);
    assert.ok(ep.spec.endpoints.every((e) => e.recordTTL === 3600));
    assert.ok(got.includes('MX shop.example 10 mx.shop.example'));
  });

  /** The relay run locally with the operator's rendered outbound.dkim and key files; returns the mail it relays, signed. */
  async function relayedMail(subject: string): Promise<Buffer> {
    const cm = await until('the relay config signs for shop.example', async () => {
      const c = await getOrUndefined<KubeObjectLike & { data: Record<string, string> }>(admin, Resources.ConfigMap, ns, 'out-config');
      return c?.data['relay.yaml'].includes('.shop.key') ? c : undefined;
    }, 30_000);
    const rendered = yaml.load(cm.data['relay.yaml']) as { outbound: { dkim?: { domain: string; selector: string; keyFile: string }[] } };
    const dir = join(tmp.dir, `relay-${relays.length}`);
    await mkdir(join(dir, 'dkim'), { recursive: true });
    for (const [k, v] of Object.entries(await secretData('shop-dkim'))) await writeFile(join(dir, 'dkim', k), v);
    const t = await startTestRelay(dir, baseConfig({
      actions: { relay: { type: 'relay' } },
      rules: [{ name: 'loopback', from: { networks: ['127.0.0.1/32'] }, for: 'any', action: 'relay' }],
      outbound: { resolver: { servers: [dns.server], timeoutSeconds: 1 }, smarthost: `smtp://127.0.0.1:${sink.port}`, dkim: (rendered.outbound.dkim ?? []).map((k) => ({ ...k, keyFile: join(dir, 'dkim', basename(k.keyFile)) })) },
    }));
    relays.push(t.relay);
    const n = sink.received.length;
    await nodemailer.createTransport({ host: '127.0.0.1', port: t.port('plain'), secure: false, ignoreTLS: true }).sendMail({ from: 'ada@shop.example', to: 'bob@far.example', subject, text: 'Signed by the key the operator made.\n' });
    await until('relayed to the sink', () => sink.received.length > n, 15_000);
    await t.relay.stop();
    return sink.received.at(-1)!.data;
  }

  const verify = async (mail: Buffer) => {
    const resolver = makeResolver(dns.server);
    const res = await dkimVerify(mail, { resolver: (name: string, rr: string) => resolver.resolve(name, rr) as Promise<string[][]> });
    return res.results.map((r) => `${r.selector}/${r.algo}/${r.status.result}`).sort();
  };

  it('signs relayed mail with the generated keys (RSA and Ed25519), verified by mailauth through the loopback DNS', async () => {
    const mail = await relayedMail('first');
    assert.deepEqual(await verify(mail), ['kubemta-1-ed25519/ed25519-sha256/pass', 'kubemta-1-rsa/rsa-sha256/pass']);
  });

  it('rotates: the new selector is published first, signs once seen, and the old one verifies through the overlap', async () => {
    // a publisher keeps the zone equal to status.dnsRecords, as external-dns would
    let publishing = true;
    const publisher = (async () => {
      while (publishing) {
        const d = await domain('shop').catch(() => undefined);
        if (d?.status?.dnsRecords) {
          for (const k of Object.keys(dns.zone)) if (k.endsWith('shop.example')) delete dns.zone[k];
          Object.assign(dns.zone, zoneOf(d.status.dnsRecords));
        }
        await new Promise((r) => setTimeout(r, 300));
      }
    })();
    try {
      const old = await relayedMail('before the rotation');
      const d = await domain('shop');
      await admin.apply(Resources.MailDomain, ns, { apiVersion: api, kind: 'MailDomain', metadata: { name: 'shop' }, spec: { ...d.spec, dkim: { ...d.spec.dkim, rotation: { every: '20s', publishFor: '3s', overlap: '12s' } } } }, 'kubectl', { force: true });
      const pending = await until('kubemta-2 published, still signing with kubemta-1', async () => {
        const x = (await domain('shop')).status;
        return x?.dkimPublished?.includes('kubemta-2-rsa') ? x : undefined;
      }, 60_000, 100);
      assert.equal(pending.dkimSigning, 'kubemta-1-rsa,kubemta-1-ed25519', JSON.stringify(pending));
      const during = await until('kubemta-2 signs, kubemta-1 still published', async () => {
        const x = (await domain('shop')).status;
        return x?.dkimSigning === 'kubemta-2-rsa,kubemta-2-ed25519' ? x : undefined;
      }, 60_000, 100);
      assert.deepEqual(during.dkimPublished!.split(',').sort(), ['kubemta-1-ed25519', 'kubemta-1-rsa', 'kubemta-2-ed25519', 'kubemta-2-rsa']);
      await until('the ConfigMap signs with kubemta-2', async () => (await admin.get<KubeObjectLike & { data: Record<string, string> }>(Resources.ConfigMap, ns, 'out-config')).data['relay.yaml'].includes('kubemta-2-rsa.shop.key') || undefined, 30_000);
      assert.ok(!(await admin.get<KubeObjectLike & { data: Record<string, string> }>(Resources.ConfigMap, ns, 'out-config')).data['relay.yaml'].includes('kubemta-1-rsa.shop.key'), 'the old key no longer signs');
      const fresh = await relayedMail('after the switch');
      assert.deepEqual(await verify(fresh), ['kubemta-2-ed25519/ed25519-sha256/pass', 'kubemta-2-rsa/rsa-sha256/pass']);
      assert.deepEqual(await verify(old), ['kubemta-1-ed25519/ed25519-sha256/pass', 'kubemta-1-rsa/rsa-sha256/pass'], 'mail signed before the switch still verifies during the overlap');
      const ep = await admin.get<KubeObjectLike & { spec: { endpoints: { dnsName: string }[] } }>(Resources.DNSEndpoint, ns, 'shop-dns');
      assert.ok(ep.spec.endpoints.some((e) => e.dnsName === 'kubemta-1-rsa._domainkey.shop.example') && ep.spec.endpoints.some((e) => e.dnsName === 'kubemta-2-rsa._domainkey.shop.example'));
      await until('kubemta-1 retired after the overlap', async () => {
        const x = (await domain('shop')).status;
        return x?.dkimPublished && !x.dkimPublished.includes('kubemta-1') ? x : undefined;
      }, 60_000, 200);
      const keys = Object.keys(await secretData('shop-dkim')).sort();
      assert.ok(!keys.some((k) => k.startsWith('kubemta-1-')), keys.join(', '));
      await until('the zone follows', async () => !dns.zone['kubemta-1-rsa._domainkey.shop.example'] || undefined, 5000);
      assert.ok((await verify(old)).every((r) => !r.endsWith('/pass')), 'the retired key\'s record is gone: old signatures no longer verify');
    } finally {
      publishing = false;
      await publisher;
    }
    const d = await domain('shop');
    await admin.apply(Resources.MailDomain, ns, { apiVersion: api, kind: 'MailDomain', metadata: { name: 'shop' }, spec: { ...d.spec, dkim: { ...d.spec.dkim, rotation: { every: '1000d' } } } }, 'kubectl', { force: true });
  });

  it('removes the DNSEndpoint when publishing is turned off; never shows a private key; uses exactly the shipped DNSEndpoint permissions', async () => {
    const d = await domain('shop');
    await admin.apply(Resources.MailDomain, ns, { apiVersion: api, kind: 'MailDomain', metadata: { name: 'shop' }, spec: { ...d.spec, dns: { ...d.spec.dns, publish: 'none' } } }, 'kubectl', { force: true });
    await until('DNSEndpoint deleted', async () => !(await getOrUndefined(admin, Resources.DNSEndpoint, ns, 'shop-dns')), 30_000);
    const statuses = JSON.stringify((await admin.list(Resources.MailDomain, ns)).items.map((x) => x.status));
    const events = (await admin.list<KubeObjectLike & { message: string }>(Resources.Event, ns)).items.map((e) => e.message).join('\n');
    for (const text of [statuses, events]) assert.doesNotMatch(text, /PRIVATE KEY|MII[A-Za-z0-9+/]{20,}.*PRIVATE/);
    assert.match(events, /DKIM key kubemta-2-rsa signs now/);
    // its server deleted, the MailDomain follows it: the status loses its records and DKIM fields
    await admin.delete(Resources.MailServer, ns, 'out');
    const follows = await until('shop follows its deleted server', async () => {
      const x = await domain('shop');
      return condition(x, 'Ready')?.reason === 'MailServerNotFound' ? x : undefined;
    }, 30_000);
    assert.equal(follows.status?.dnsRecords, undefined);
    assert.equal(follows.status?.dkimSigning, undefined);
    const used = [...op.client.permissionsUsed].filter((p) => p.startsWith('externaldns.k8s.io/')).sort();
    assert.deepEqual(used, ['externaldns.k8s.io/dnsendpoints create', 'externaldns.k8s.io/dnsendpoints delete', 'externaldns.k8s.io/dnsendpoints patch']);
  });
});
