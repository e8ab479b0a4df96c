import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { validateConfig } from '../../relay/config/load.ts';
import { crossCheck } from '../../relay/config/check.ts';
import { render, type ServerRender } from './render.ts';
import { build, manyUsers, seedSnapshot, DEMO_HASH } from './testing.ts';
import { objectKey, type Snapshot } from './snapshot.ts';

const GOLDEN = new URL('./testdata/seed.yaml', import.meta.url).pathname;

function only(out: { servers: ServerRender[] }): ServerRender {
  assert.equal(out.servers.length, 1);
  return out.servers[0];
}
function table(s: ServerRender, name: string): string {
  for (const m of s.manifests) {
    const data = (m as { data?: Record<string, string> }).data;
    if (m.kind === 'Secret' && data?.[name]) return Buffer.from(data[name], 'base64').toString('utf8');
  }
  return '';
}
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- manifests are untyped JSON here
function byKind(s: ServerRender, kind: string): any[] {
  return s.manifests.filter((m) => m.kind === kind);
}
const withSeed = (f: (s: Snapshot) => void): Snapshot => {
  const s = seedSnapshot();
  f(s);
  return s;
};

describe('operator/render', () => {
  it('renders the seed (Listings 1–3) into a config the relay\'s own schema and cross-checks accept', () => {
    const s = only(render(seedSnapshot()));
    assert.equal(s.held, false, s.problems.join('; '));
    const v = validateConfig(structuredClone(s.config));
    assert.ok(v.ok, v.ok ? '' : v.problems.join('; '));
    assert.deepEqual(crossCheck(v.config), []);
    assert.equal(yaml.load(s.configYaml!) !== undefined, true);
  });

  it('expresses every line of Listing 1: pki, the auth table, three listeners, tag remote, limit mta inet4', () => {
    const s = only(render(seedSnapshot()));
    const c = s.config!;
    assert.deepEqual(c.pki.map((p) => [p.name, p.hostnames]), [['mail', ['mail.example.org']], ['post', ['post.example.org']]]);
    const l = Object.fromEntries(c.listeners.map((x) => [x.name, x]));
    assert.deepEqual([l.inbound.port, l.inbound.family, l.inbound.hostname, l.inbound.tls, l.inbound.pki], [10025, 'inet4', 'post.example.org', 'starttls', 'post']);
    assert.deepEqual([l.submission.port, l.submission.tls, l.submission.pki, l.submission.authRequired, l.submission.tag], [10587, 'starttls-required', 'mail', true, 'remote']);
    assert.equal(c.tables[l.submission.auth!].type, 'credentials');
    assert.match(table(s, l.submission.auth!), /^max\t\$2b\$10\$/m);
    assert.deepEqual([l.local.address, l.local.hostname, l.local.tls], ['127.0.0.1', 'local.example.org', 'none']);
    assert.equal(c.outbound.family, 'inet4');
    assert.ok(c.rules!.some((r) => r.tag === 'remote' && r.for === 'any' && c.actions[r.action!].type === 'relay'));
    const svc = byKind(s, 'Service')[0] as { spec: { ports: { port: number; targetPort: number }[] } };
    assert.deepEqual(svc.spec.ports.map((p) => [p.port, p.targetPort]), [[25, 10025], [587, 10587]], 'Services map 25/587 onto unprivileged ports; the loopback listener is not exposed');
  });

  it('expresses `accept for local alias <aliases> deliver to mbox` and both virtual rules of Listings 2–3, in smtpd.conf order', () => {
    const s = only(render(seedSnapshot()));
    const rules = s.config!.rules!;
    const local = rules[0];
    assert.deepEqual([local.from, local.for, s.config!.tables[local.alias!].type, s.config!.actions[local.action!].type], ['local', 'local', 'aliases', 'mbox']);
    assert.match(table(s, local.alias!), /^postmaster\tmax$/m);
    const [org, brands] = rules.slice(1, 3);
    assert.deepEqual([org.from, org.for, s.config!.actions[org.action!].type], ['any', { domain: 'example.org' }, 'mbox']);
    assert.equal(
      table(s, org.virtual!),
      ['@example.org\tcatchall@example.org', 'catchall@example.org\tpostmaster', 'max.muster@example.org\tmax', 'max@example.org\tmax.muster@example.org', 'mm@example.org\tmax@example.org', 'moritz@example.org\tmoritz@example.net', ''].join('\n'),
    );
    assert.deepEqual(brands.for, { domains: 'domains-brands' });
    assert.equal(table(s, 'domains-brands'), '*.example.com\n*.example.net\n*.example.org\nexample.com\nexample.net\nexample.org\n');
    assert.equal(table(s, brands.virtual!), 'max\tmax\nmoritz\tmoritz@example.com\n');
  });

  it('matches the golden manifests for the seed (UPDATE_GOLDEN=1 rewrites them)', () => {
    const s = only(render(seedSnapshot()));
    const text = s.manifests.map((m) => `---\n${yaml.dump(m, { lineWidth: 160, noRefs: true })}`).join('');
    if (process.env.UPDATE_GOLDEN) writeFileSync(GOLDEN, text);
    assert.equal(text, readFileSync(GOLDEN, 'utf8'));
  });

  it('is deterministic and leaves the caller\'s objects untouched', () => {
    const snap = seedSnapshot();
    const before = JSON.stringify(snap);
    const a = render(snap);
    assert.equal(JSON.stringify(snap), before);
    assert.deepEqual(render(seedSnapshot()).servers[0].manifests, a.servers[0].manifests);
  });

  for (const [what, change, key, field] of [
    ['a Listener naming a missing PkiCert', (s: Snapshot) => s.listeners.push(build.listener('smtps', { port: 465, tls: { mode: 'implicit', pkiCertRef: { name: 'nope' } } })), 'Listener/default/smtps', 'spec.tls.pkiCertRef.name: no PkiCert "nope"'],
    ['two Listeners on one port', (s: Snapshot) => s.listeners.push({ ...build.listener('again', { port: 587 }), metadata: { name: 'again', creationTimestamp: '2030-01-01T00:00:00Z' } }), 'Listener/default/again', 'spec.port: port 587 of Service "post" is already used by Listener "submission"'],
    ['a VirtualUser in a missing domain', (s: Snapshot) => s.virtualUsers.push(build.user('lost', { mailDomainRef: { name: 'nowhere' } })), 'VirtualUser/default/lost', 'spec.mailDomainRef.name: no MailDomain "nowhere"'],
    ['an address claimed twice', (s: Snapshot) => s.virtualUsers.push(build.user('max2', { address: 'max@example.org' })), 'VirtualUser/default/max2', 'spec.address: "max@example.org" is already claimed by VirtualUser "max"'],
    ['an address outside its MailDomain', (s: Snapshot) => s.virtualUsers.push(build.user('x', { address: 'x@example.net' })), 'VirtualUser/default/x', 'spec.address: "example.net" is not one of MailDomain "example-org"\'s domains'],
    ['a schema violation', (s: Snapshot) => s.listeners.push(build.listener('weird', { port: 0 })), 'Listener/default/weird', 'spec.port: must be >= 1'],
  ] as const) {
    it(`gives ${what} Ready=False naming the field, and holds the server's last good config`, () => {
      const out = render(withSeed(change));
      const v = out.verdicts.get(key)!;
      assert.equal(v.ready, false);
      assert.equal(v.message, field);
      const s = only(out);
      if (key !== 'VirtualUser/default/lost') {
        assert.equal(s.held, true);
        const server = out.verdicts.get('MailServer/default/post')!;
        assert.equal(server.ready, false);
        assert.match(server.message, /^holding the last good config: /);
        assert.equal(out.verdicts.get('VirtualUser/default/moritz')!.ready, 'held');
      }
    });
  }

  it('lets the Listener that was already Ready keep its port when both were created in the same second', () => {
    const ts = '2030-01-01T00:00:00Z';
    const out = render(withSeed((s) => {
      const sub = s.listeners.find((l) => l.metadata.name === 'submission')!;
      sub.metadata.creationTimestamp = ts;
      sub.status = { conditions: [{ type: 'Ready', status: 'True', reason: 'Ready', message: '', lastTransitionTime: ts }] };
      s.listeners.push({ ...build.listener('again', { port: 587 }), metadata: { name: 'again', creationTimestamp: ts } });
    }));
    assert.equal(out.verdicts.get('Listener/default/again')!.reason, 'PortConflict');
  });

  it('warns about a wildcard top-level domain without holding anything', () => {
    const out = render(withSeed((s) => s.mailDomains.push(build.domain('tld', { domains: ['example.*'], priority: 200 }))));
    assert.equal(only(out).held, false);
    assert.match(out.verdicts.get('MailDomain/default/tld')!.warnings[0], /^spec\.domains: "example\.\*" is a wildcard top-level domain/);
  });

  it('never puts Secret content into a verdict', () => {
    const snap = withSeed((s) => {
      s.secrets.find((x) => x.metadata.name === 'max-password')!.data.password = Buffer.from('hunter2-cleartext');
    });
    const out = render(snap);
    const v = out.verdicts.get('VirtualUser/default/max-muster')!;
    assert.equal(v.ready, false);
    assert.match(v.message, /^spec\.login\.passwordHashSecretRef: .* is not a bcrypt/);
    assert.ok(![...out.verdicts.values()].some((x) => JSON.stringify(x).includes('hunter2')));
  });

  it('builds pods that pass the restricted Pod Security Standard', () => {
    const s = only(render(seedSnapshot()));
    const dep = byKind(s, 'Deployment')[0] as { spec: { strategy: { type: string }; template: { spec: Record<string, any> } } };
    assert.equal(dep.spec.strategy.type, 'Recreate');
    const pod = dep.spec.template.spec;
    assert.equal(pod.securityContext.runAsNonRoot, true);
    assert.equal(pod.securityContext.seccompProfile.type, 'RuntimeDefault');
    assert.ok(!pod.hostNetwork && !pod.hostPID && !pod.hostIPC);
    assert.ok(pod.volumes.every((v: Record<string, unknown>) => ['configMap', 'projected', 'emptyDir', 'persistentVolumeClaim', 'secret'].some((k) => k in v)));
    for (const c of pod.containers) {
      assert.deepEqual(c.securityContext, { allowPrivilegeEscalation: false, readOnlyRootFilesystem: true, runAsNonRoot: true, capabilities: { drop: ['ALL'] }, seccompProfile: { type: 'RuntimeDefault' } });
      assert.ok(c.ports.every((p: { containerPort: number }) => p.containerPort >= 1024));
    }
  });

  it('keeps the pod template when tables, users or certificates change; image, ports and volumes change it', () => {
    const template = (s: Snapshot) => JSON.stringify((byKind(only(render(s)), 'Deployment')[0] as { spec: { template: unknown } }).spec.template);
    const base = template(seedSnapshot());
    assert.equal(template(withSeed((s) => s.virtualUsers.push(build.user('new')))), base);
    assert.equal(template(withSeed((s) => (s.mailServers[0].spec.local!.aliases!.root = ['max']))), base);
    assert.equal(template(withSeed((s) => s.secrets.push({ metadata: { name: 'post-tls' }, data: { 'tls.crt': Buffer.from('x'), 'tls.key': Buffer.from('y') } }))), base);
    assert.notEqual(template(withSeed((s) => (s.mailServers[0].spec.image = 'kubemta:next'))), base);
    assert.notEqual(template(withSeed((s) => s.listeners.push(build.listener('smtps', { port: 465, tls: { mode: 'implicit', pkiCertRef: { name: 'post' } } })))), base);
  });

  it('renders replicas > 1 as a StatefulSet with a queue volume per replica', () => {
    const s = only(render(withSeed((x) => (x.mailServers[0].spec.replicas = 3))));
    const sts = byKind(s, 'StatefulSet')[0] as { spec: { replicas: number; volumeClaimTemplates: { metadata: { name: string } }[] } };
    assert.equal(sts.spec.replicas, 3);
    assert.deepEqual(sts.spec.volumeClaimTemplates.map((v) => v.metadata.name), ['queue', 'mail']);
    assert.equal(byKind(s, 'PersistentVolumeClaim').length, 0);
    assert.equal(byKind(s, 'Deployment').length, 0);
  });

  it('retains the queue and mail PVCs by default (no owner reference) and owns everything else', () => {
    const snap = withSeed((s) => (s.mailServers[0].metadata.uid = 'u-1'));
    const s = only(render(snap));
    for (const m of s.manifests) {
      if (m.kind === 'PersistentVolumeClaim') assert.equal(m.metadata.ownerReferences, undefined);
      else assert.equal((m.metadata.ownerReferences as { uid: string }[])[0].uid, 'u-1');
    }
  });

  it('renders 10,000 VirtualUsers with logins in seconds, each table Secret under 1 MiB; one changed user rewrites one Secret', () => {
    const { users, secret } = manyUsers(10_000);
    const snap = withSeed((s) => {
      s.virtualUsers.push(...users);
      s.secrets.push(secret);
    });
    const t0 = performance.now();
    const out = render(snap);
    const ms = performance.now() - t0;
    const s = only(out);
    assert.equal(s.held, false, s.problems.slice(0, 3).join('; '));
    assert.ok(ms < 10_000, `render took ${ms} ms`);
    const secrets = byKind(s, 'Secret');
    for (const m of secrets) {
      const bytes = Object.values((m as { data: Record<string, string> }).data).reduce((n, v) => n + Buffer.from(v, 'base64').length, 0);
      assert.ok(bytes < 1024 * 1024, `${m.metadata.name}: ${bytes} bytes`);
    }
    assert.match(table(s, 'auth-submission'), new RegExp(`^user9999@example.org\\t${DEMO_HASH.replace(/\$/g, '\\$')}$`, 'm'));
    // one user's mailbox changes: only the Secret holding its MailDomain's virtual table differs
    const changed = structuredClone(snap);
    changed.virtualUsers.find((u) => u.metadata.name === 'user42')!.spec.mailbox = 'elsewhere';
    const s2 = only(render(changed));
    const hashes = (x: ServerRender) => new Map(x.manifests.map((m) => [`${m.kind}/${m.metadata.name}`, m.metadata.annotations!['kubemta.io/content-hash']]));
    const [h1, h2] = [hashes(s), hashes(s2)];
    assert.deepEqual([...h1.keys()].filter((k) => h1.get(k) !== h2.get(k)), [`Secret/${secrets.find((m) => 'virtual-example-org' in (m as { data: object }).data)!.metadata.name}`]);
    process.stdout.write(`# render of 10,000 VirtualUsers: ${ms.toFixed(0)} ms\n`);
  });

  it('reports a VirtualUser of another namespace\'s domain as missing and keys verdicts by namespace', () => {
    const out = render(withSeed((s) => s.virtualUsers.push({ ...build.user('far'), metadata: { name: 'far', namespace: 'other' } })));
    assert.equal(out.verdicts.get(objectKey('VirtualUser', 'other', 'far'))!.reason, 'MailDomainNotFound');
  });
});
