import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as yaml from 'js-yaml';
import { validateConfig } from '../../relay/config/index.ts';
import { crossCheck } from '../../relay/config/index.ts';
import { render, type ServerRender } from './render.ts';
import { build, manyUsers, seedSnapshot, DEMO_HASH } from '../../test/render-kit.ts';
import { objectKey, type Snapshot } from './snapshot.ts';
import { relayReadsTableParts } from './table-shards.ts';

const GOLDEN = new URL('./testdata/seed.yaml', import.meta.url).pathname;

function only(out: { servers: ServerRender[] }): ServerRender {
  assert.equal(out.servers.length, 1);
  return out.servers[0];
}
/** A table's text as the relay reads it: its one file, or its parts (`<name>_0`, …) joined and sorted. */
function table(s: ServerRender, name: string): string {
  const lines: string[] = [];
  for (const m of s.manifests) {
    const data = (m as { data?: Record<string, string> }).data ?? {};
    if (m.kind !== 'Secret') continue;
    for (const [k, v] of Object.entries(data)) {
      if (k === name || (k.startsWith(`${name}_`) && /^\d+$/.test(k.slice(name.length + 1)))) lines.push(...Buffer.from(v, 'base64').toString('utf8').split('\n').filter(Boolean));
    }
  }
  return lines.length ? lines.sort().join('\n') + '\n' : '';
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

  it('renders spec.subaddressDelimiter (smtpd.conf sub-addr-delim) into the relay\'s resolution, which resolves user+tag@', () => {
    const snap = seedSnapshot();
    const server = snap.mailServers[0];
    server.spec.subaddressDelimiter = '+';
    const s = only(render(snap));
    const v = validateConfig(structuredClone(s.config));
    assert.ok(v.ok, v.ok ? '' : v.problems.join('; '));
    assert.equal(v.config.resolution.subaddressDelimiter, '+');
    assert.equal(only(render(seedSnapshot())).config?.resolution, undefined, 'absent: the relay default (off)');
  });

  it('renders spec.limits.rates and a Listener\'s spec.rates into the relay\'s limits.rates and the listener\'s override', () => {
    const snap = seedSnapshot();
    snap.mailServers[0].spec.limits = { rates: { client: { connections: 30, ipv6Prefix: 56 }, sender: { recipients: 500 } } };
    const listener = snap.listeners[0];
    listener.spec.rates = { client: { messages: 5 } };
    const s = only(render(snap));
    const v = validateConfig(structuredClone(s.config));
    assert.ok(v.ok, v.ok ? '' : v.problems.join('; '));
    assert.deepEqual(v.config.limits.rates.client, { connections: 30, windowSeconds: 60, ipv4Prefix: 32, ipv6Prefix: 56 });
    assert.deepEqual(v.config.limits.rates.sender, { recipients: 500, windowSeconds: 3600 });
    const rendered = v.config.listeners.filter((l) => l.rates);
    assert.deepEqual(rendered.map((l) => l.rates), [{ client: { messages: 5 } }], 'only the overriding listener, without defaults filled in');
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

  it('never puts Secret content into a verdict, also when a Secret holds a clear password by mistake', () => {
    const snap = withSeed((s) => {
      s.secrets.find((x) => x.metadata.name === 'max-password')!.data.password = Buffer.from('hunter2-cleartext');
      s.secrets.find((x) => x.metadata.name === 'remote')!.data.credentials = Buffer.from(`max\t${DEMO_HASH}\nsecretuser\thunter3-cleartext\n`);
    });
    const out = render(snap);
    const v = out.verdicts.get('VirtualUser/default/max-muster')!;
    assert.equal(v.ready, false);
    assert.match(v.message, /^spec\.login\.passwordHashSecretRef: .* is not a bcrypt/);
    const l = out.verdicts.get('Listener/default/submission')!;
    assert.equal(l.ready, false);
    assert.equal(l.message, 'spec.auth.credentialsSecretRef: Secret "remote" key "credentials" line 2: not "user<TAB>hash" with a bcrypt or $6$/$5$ crypt hash (use kubemta encrypt)');
    const said = JSON.stringify([...out.verdicts.values()]) + out.servers.flatMap((s) => s.problems).join();
    for (const secret of ['hunter2', 'hunter3', 'secretuser', DEMO_HASH]) assert.ok(!said.includes(secret), secret);
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

  // What reaches the relay by hot reload (files in mounted ConfigMaps/Secrets) must leave the pod template,
  // and so its kubemta.io/pod-hash, alone; only image, ports, volumes (and resources) may roll the pod.
  const tls = (crt: string) => ({ metadata: { name: 'post-tls' }, type: 'kubernetes.io/tls', data: { 'tls.crt': Buffer.from(crt), 'tls.key': Buffer.from(`key of ${crt}`) } });
  const server = (s: Snapshot) => s.mailServers[0].spec;
  const listener = (s: Snapshot, name: string) => s.listeners.find((l) => l.metadata.name === name)!.spec;
  const hotReloaded: [string, (s: Snapshot) => void, through?: 'the mounted Secret'][] = [
    ['a VirtualUser added', (s) => s.virtualUsers.push(build.user('new'))],
    ['a VirtualUser\'s mailbox and forwarding changed', (s) => Object.assign(s.virtualUsers[0].spec, { mailbox: 'other', forwardTo: ['x@example.net'] })],
    ['a login added (password hash Secret)', (s) => {
      s.virtualUsers.push(build.user('login', { login: { passwordHashSecretRef: { name: 'h', key: 'password' } } }));
      s.secrets.push({ metadata: { name: 'h' }, data: { password: Buffer.from(DEMO_HASH) } });
    }],
    ['the credentials Secret\'s content changed', (s) => (s.secrets.find((x) => x.metadata.name === 'remote')!.data.credentials = Buffer.from(`max\t${DEMO_HASH}\nmoritz\t${DEMO_HASH}\n`))],
    ['an alias added', (s) => (server(s).local!.aliases!.hostmaster = ['max'])],
    ['a MailDomain added', (s) => s.mailDomains.push(build.domain('extra', { domains: ['extra.example'] }))],
    ['a MailDomain\'s catch-all and delivery changed', (s) => Object.assign(s.mailDomains[0].spec, { catchAll: 'max', delivery: { type: 'maildir' } })],
    ['the certificate renewed (same Secret, new content)', (s) => (s.secrets.find((x) => x.metadata.name === 'post-tls')!.data = tls('renewed').data), 'the mounted Secret'],
    ['the hostname, log level and limits changed', (s) => Object.assign(server(s), { hostname: 'mx.example.org', logLevel: 'debug', limits: { maxRecipients: 10 } })],
    ['outbound policy changed (TLS, relay networks, smarthost without AUTH)', (s) => Object.assign(server(s).outbound, { tls: 'required', smarthost: 'smtp://relay.example:25', relayFrom: { authenticated: true, networks: ['10.0.0.0/8'] } })],
    ['a Listener\'s hostname, tag and TLS mode changed on the same port', (s) => Object.assign(listener(s, 'inbound'), { hostname: 'in.example.org', tag: 'in', tls: { mode: 'starttls-required', pkiCertRef: { name: 'post' } } })],
  ];
  const rolled: [string, (s: Snapshot) => void][] = [
    ['the image', (s) => (server(s).image = 'kubemta:next')],
    ['a Listener added (a port)', (s) => s.listeners.push(build.listener('smtps', { port: 465, tls: { mode: 'implicit', pkiCertRef: { name: 'post' } } }))],
    ['a container port changed', (s) => (listener(s, 'local').containerPort = 10027)],
    ['a Listener using another PkiCert (a volume)', (s) => (listener(s, 'submission').tls.pkiCertRef = { name: 'post' })],
    ['a DKIM key (a volume)', (s) => (server(s).outbound.dkim = [{ domain: 'example.org', selector: 's1', privateKeySecretRef: { name: 'dkim', key: 'key' } }])],
    ['smarthost AUTH (a password volume)', (s) => Object.assign(server(s).outbound, { smarthost: 'smtp://relay.example:587', smarthostAuth: { username: 'u', passwordSecretRef: { name: 'sh', key: 'password' } } })],
    ['tableShards (the tables volume)', (s) => (server(s).tableShards = 6)],
    ['resources', (s) => (server(s).resources = { limits: { memory: '512Mi' } })],
  ];
  for (const replicas of [1, 3]) {
    const kind = replicas === 1 ? 'Deployment' : 'StatefulSet';
    const base = (f: (s: Snapshot) => void = () => {}) =>
      withSeed((s) => {
        server(s).replicas = replicas;
        s.secrets.push(tls('first'));
        f(s);
      });
    const podOf = (s: Snapshot) => {
      const r = only(render(s));
      assert.equal(r.held, false, r.problems.join('; '));
      const w = byKind(r, kind)[0];
      return { template: JSON.stringify(w.spec.template), hash: w.spec.template.metadata.annotations['kubemta.io/pod-hash'] as string, config: r.manifests.filter((m) => m.kind !== kind).map((m) => m.metadata.annotations!['kubemta.io/content-hash']).join() };
    };
    const before = podOf(base());
    for (const [what, change, through] of hotReloaded) {
      it(`${kind}: keeps the pod template (hot reload, no restart) when ${what}`, () => {
        const after = podOf(base(change));
        if (through) assert.equal(after.config, before.config, `the change reaches the relay through ${through} only`);
        else assert.notEqual(after.config, before.config, 'the change reaches the relay through its config or tables');
        assert.equal(after.hash, before.hash);
        assert.equal(after.template, before.template);
      });
    }
    for (const [what, change] of rolled) {
      it(`${kind}: rolls the pod (new pod-hash) for ${what}`, () => {
        assert.notEqual(podOf(base(change)).hash, before.hash);
      });
    }
  }

  it('renders replicas > 1 as a StatefulSet with a queue volume per replica', () => {
    const s = only(render(withSeed((x) => (x.mailServers[0].spec.replicas = 3))));
    const sts = byKind(s, 'StatefulSet')[0] as { spec: { replicas: number; volumeClaimTemplates: { metadata: { name: string } }[] } };
    assert.equal(sts.spec.replicas, 3);
    assert.deepEqual(sts.spec.volumeClaimTemplates.map((v) => v.metadata.name), ['queue', 'mail']);
    assert.equal(byKind(s, 'PersistentVolumeClaim').length, 0);
    assert.equal(byKind(s, 'Deployment').length, 0);
    // server-side apply keys Service ports by (port, protocol): one without protocol is refused (500 on 1.20)
    for (const svc of byKind(s, 'Service')) for (const p of svc.spec.ports) assert.equal(p.protocol, 'TCP', `${svc.metadata.name} port ${p.port}`);
    assert.equal(byKind(s, 'Service').find((x) => x.metadata.name === 'post-pods').spec.clusterIP, 'None');
  });

  it('renders the workload like a production chart: resources (spec or measured defaults), probes on /readyz and /healthz, a metrics Service, a PodDisruptionBudget for more than one replica', () => {
    const container = (s: ServerRender) => byKind(s, s.server.spec.replicas > 1 ? 'StatefulSet' : 'Deployment')[0].spec.template.spec.containers[0];
    const one = only(render(seedSnapshot()));
    assert.deepEqual(container(one).resources, { requests: { cpu: '100m', memory: '128Mi' }, limits: { memory: '512Mi' } });
    assert.deepEqual([container(one).readinessProbe.httpGet, container(one).livenessProbe.httpGet], [{ path: '/readyz', port: 'http' }, { path: '/healthz', port: 'http' }]);
    const metrics = byKind(one, 'Service').find((x) => x.metadata.name === 'post-metrics');
    assert.deepEqual(metrics.spec.ports, [{ name: 'metrics', port: 8025, targetPort: 'http', protocol: 'TCP' }]);
    assert.equal(metrics.metadata.labels['app.kubernetes.io/component'], 'metrics');
    assert.equal(byKind(one, 'PodDisruptionBudget').length, 0, 'one replica: a budget would block every drain');
    const three = only(render(withSeed((x) => {
      x.mailServers[0].spec.replicas = 3;
      x.mailServers[0].spec.resources = { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } };
    })));
    assert.deepEqual(container(three).resources, { requests: { cpu: '1', memory: '1Gi' }, limits: { memory: '2Gi' } });
    const [pdb] = byKind(three, 'PodDisruptionBudget');
    assert.deepEqual([pdb.apiVersion, pdb.spec], ['policy/v1beta1', { maxUnavailable: 1, selector: { matchLabels: { 'app.kubernetes.io/name': 'kubemta', 'app.kubernetes.io/instance': 'post' } } }]);
  });

  it('renders a ServiceMonitor for the metrics Service only when spec.metrics.serviceMonitor.enabled', () => {
    assert.equal(byKind(only(render(seedSnapshot())), 'ServiceMonitor').length, 0);
    assert.equal(byKind(only(render(withSeed((x) => (x.mailServers[0].spec.metrics = { serviceMonitor: { enabled: false } })))), 'ServiceMonitor').length, 0);
    const s = only(render(withSeed((x) => (x.mailServers[0].spec.metrics = { serviceMonitor: { enabled: true, interval: '30s', labels: { release: 'prometheus' } } }))));
    const [sm] = byKind(s, 'ServiceMonitor');
    const svc = byKind(s, 'Service').find((x) => x.metadata.name === 'post-metrics');
    assert.deepEqual([sm.apiVersion, sm.metadata.name, sm.metadata.labels.release], ['monitoring.coreos.com/v1', 'post-metrics', 'prometheus']);
    for (const [k, v] of Object.entries(sm.spec.selector.matchLabels)) assert.equal(svc.metadata.labels[k], v, k);
    assert.deepEqual(sm.spec.endpoints, [{ port: 'metrics', path: '/metrics', interval: '30s' }]);
    assert.ok(svc.spec.ports.some((p: { name: string }) => p.name === 'metrics'));
  });

  it('retains the queue and mail PVCs by default (no owner reference) and owns everything else', () => {
    const snap = withSeed((s) => (s.mailServers[0].metadata.uid = 'u-1'));
    const s = only(render(snap));
    for (const m of s.manifests) {
      if (m.kind === 'PersistentVolumeClaim') assert.equal(m.metadata.ownerReferences, undefined);
      else assert.equal((m.metadata.ownerReferences as { uid: string }[])[0].uid, 'u-1');
    }
    const owned = only(render(withSeed((x) => {
      x.mailServers[0].metadata.uid = 'u-1';
      x.mailServers[0].spec.mailStore = { size: '1Gi', retainOnDelete: false };
    })));
    const claim = (name: string) => owned.manifests.find((m) => m.metadata.name === name)!;
    assert.equal((claim('post-mail').metadata.ownerReferences as { uid: string }[])[0].uid, 'u-1', 'retainOnDelete: false: collected with the MailServer');
    assert.equal(claim('post-queue').metadata.ownerReferences, undefined);
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
    // one user's mailbox changes: only the Secret holding that user's entry (its table, or its part) differs
    const changed = structuredClone(snap);
    changed.virtualUsers.find((u) => u.metadata.name === 'user42')!.spec.mailbox = 'elsewhere';
    const s2 = only(render(changed));
    const hashes = (x: ServerRender) => new Map(x.manifests.map((m) => [`${m.kind}/${m.metadata.name}`, m.metadata.annotations!['kubemta.io/content-hash']]));
    const [h1, h2] = [hashes(s), hashes(s2)];
    const holder = secrets.find((m) => Object.values((m as { data: Record<string, string> }).data).some((v) => Buffer.from(v, 'base64').toString('utf8').includes('user42@example.org\tuser42\n')))!;
    assert.deepEqual([...h1.keys()].filter((k) => h1.get(k) !== h2.get(k)), [`Secret/${holder.metadata.name}`]);
    process.stdout.write(`# render of 10,000 VirtualUsers: ${ms.toFixed(0)} ms\n`);
  });

  it('spreads one table over several Secrets (tables.<name>.files) when it outgrows one, or says what is missing', () => {
    const { users, secret } = manyUsers(30_000); // credentials ~2.4 MB, virtual ~0.9 MB
    const snap = withSeed((s) => {
      s.virtualUsers.push(...users);
      s.secrets.push(secret);
    });
    const wholeOut = render(snap, { splitTables: false });
    const whole = only(wholeOut);
    assert.equal(wholeOut.verdicts.get('MailServer/default/post')!.reason, 'TableTooLarge');
    assert.match(whole.problems[0], /^spec\.tableShards: table "auth-submission" \(\d+ bytes\) is larger than one Secret \(1000000 bytes\), and the relay reads a table from one file/);
    if (!relayReadsTableParts) return; // relay/config without tables.<name>.files: the message above is what users see
    const t0 = performance.now();
    const s = only(render(snap));
    const ms = performance.now() - t0;
    assert.equal(s.held, false, s.problems.slice(0, 3).join('; '));
    const files = (s.config!.tables['auth-submission'] as { files?: string[] }).files!;
    assert.ok(files.length >= 10, files.join(' '));
    assert.ok(files.every((f, i) => f === `/etc/kubemta/tables/auth-submission_${i}`));
    assert.equal(table(s, 'auth-submission').split('\n').filter(Boolean).length, 30_000 + 2, 'every login once (and the seed\'s two)');
    const secrets = byKind(s, 'Secret');
    assert.equal(secrets.length, 4, 'still the same four Secrets: the pod does not change');
    for (const m of secrets) {
      const bytes = Object.values((m as { data: Record<string, string> }).data).reduce((n, v) => n + Buffer.from(v, 'base64').length, 0);
      assert.ok(bytes < 1024 * 1024, `${m.metadata.name}: ${bytes} bytes`);
    }
    const v = validateConfig(structuredClone(s.config));
    assert.ok(v.ok, v.ok ? '' : v.problems.join('; '));
    process.stdout.write(`# render of 30,000 VirtualUsers with logins (tables split across Secrets): ${ms.toFixed(0)} ms\n`);
  });

  it('uses more table Secrets than spec.tableShards when the tables outgrow them, says how many in status.tableShards, and names tableShards past the most it uses', () => {
    if (!relayReadsTableParts) return;
    const { users, secret } = manyUsers(45_000); // ~5.1 MB of tables: more than the default 4 Secrets hold
    const snap = withSeed((s) => {
      s.virtualUsers.push(...users);
      s.secrets.push(secret);
    });
    const out = render(snap);
    const s = only(out);
    assert.equal(s.held, false, s.problems.slice(0, 3).join('; '));
    const shards = (out.verdicts.get('MailServer/default/post')!.status as { tableShards: number }).tableShards;
    assert.ok(shards > 4, `status.tableShards ${shards}`);
    const secrets = byKind(s, 'Secret').filter((m) => m.metadata.name.startsWith('post-tables-'));
    assert.deepEqual(secrets.map((m) => m.metadata.name).sort(), Array.from({ length: shards }, (_, i) => `post-tables-${i}`).sort());
    for (const m of secrets) {
      const bytes = Object.values((m as { data: Record<string, string> }).data).reduce((n, v) => n + Buffer.from(v, 'base64').length, 0);
      assert.ok(bytes < 1024 * 1024, `${m.metadata.name}: ${bytes} bytes`);
    }
    const pod = (byKind(s, 'Deployment')[0] as { spec: { template: { spec: { volumes: { name: string; projected?: { sources: unknown[] } }[] } } } }).spec.template.spec;
    assert.equal(pod.volumes.find((v) => v.name === 'tables')!.projected!.sources.length, shards, 'the pod mounts every one');
    assert.equal(table(s, 'auth-submission').split('\n').filter(Boolean).length, 45_000 + 2);
    // the count chosen is kept (the status carries it) while it holds the tables: a removed user moves nothing
    const next = structuredClone(snap);
    next.mailServers[0].status = { tableShards: shards };
    next.virtualUsers.pop();
    assert.equal((render(next).verdicts.get('MailServer/default/post')!.status as { tableShards: number }).tableShards, shards);
    // beyond the most it uses (64 Secrets; here Secrets of 10 KB): Ready=False naming spec.tableShards
    const full = render(snap, { shardBytes: 10_000 });
    const v = full.verdicts.get('MailServer/default/post')!;
    assert.deepEqual([v.ready, v.reason], [false, 'TableTooLarge']);
    assert.match(v.message, /spec\.tableShards: the tables do not fit in 64 Secrets of 10000 bytes/);
  });

  for (const [delivery, action] of [
    [{ type: 'mbox' }, { type: 'mbox' }],
    [{ type: 'maildir' }, { type: 'maildir' }],
    [{ type: 'lmtp', lmtp: { host: 'dovecot', port: 24 } }, { type: 'lmtp', host: 'dovecot', port: 24, rcptTo: 'mailbox' }],
    [{ type: 'relay', relay: { smarthost: 'smtp://mx.internal:25' } }, { type: 'relay', smarthost: 'smtp://mx.internal:25' }],
  ] as const) {
    it(`renders MailDomain delivery ${delivery.type} into an action the relay's schema and checks accept`, () => {
      const s = only(render(withSeed((x) => ((x.mailDomains[0].spec as { delivery: unknown }).delivery = delivery))));
      assert.equal(s.held, false, s.problems.join('; '));
      assert.deepEqual(s.config!.actions['domain-example-org'], action);
    });
  }

  it('puts into each AUTH Listener\'s credentials table the logins its auth.users selector picks (all without one)', () => {
    const out = only(render(withSeed((s) => {
      s.secrets.push({ metadata: { name: 'h' }, data: { password: Buffer.from(DEMO_HASH) } });
      const login = { passwordHashSecretRef: { name: 'h', key: 'password' } };
      s.virtualUsers.push({ ...build.user('staff', { login }), metadata: { name: 'staff', labels: { team: 'staff' } } });
      s.virtualUsers.push(build.user('guest', { login }));
      s.listeners.push(build.listener('staff-only', { port: 465, tls: { mode: 'implicit', pkiCertRef: { name: 'mail' } }, auth: { required: true, users: { matchLabels: { team: 'staff' } } } }));
    })));
    const users = (t: string) => table(out, t).split('\n').filter(Boolean).map((l) => l.split('\t')[0]);
    assert.deepEqual(users('auth-staff-only'), ['staff@example.org']);
    assert.deepEqual(users('auth-submission'), ['guest@example.org', 'max', 'max.muster@example.org', 'staff@example.org']);
  });

  it('reports a VirtualUser of another namespace\'s domain as missing and keys verdicts by namespace', () => {
    const out = render(withSeed((s) => s.virtualUsers.push({ ...build.user('far'), metadata: { name: 'far', namespace: 'other' } })));
    assert.equal(out.verdicts.get(objectKey('VirtualUser', 'other', 'far'))!.reason, 'MailDomainNotFound');
  });
});
