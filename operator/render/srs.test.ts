// MailServer.spec.outbound.srs: rendered into the relay's outbound.srs (validated by the relay's own schema
// and cross-checks), the key Secret projected into the secrets volume, a missing or unusable key Secret
// holding the server with the field named (never the key), the pod-hash and the volume nudge's hash.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { validateConfig } from '../../relay/config/index.ts';
import { loadTables } from '../../relay/lookup/tables.ts';
import { crossCheck } from '../../relay/config/index.ts';
import { volumesOf } from '../controllers/nudge.ts';
import type { ControllerContext } from '../controllers/context.ts';
import { render, type ServerRender } from './render.ts';
import { Paths } from './relay-config.ts';
import { seedSnapshot, withOperatorDkimKeys } from '../../test/render-kit.ts';
import type { Snapshot } from './snapshot.ts';

const KEY = 'first-srs-secret-0123456789';
const KEY2 = 'second-srs-secret-abcdefghij';

type Any = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The seed with SRS on, its key in Secret "srs" (key `keys`, the default). */
function withSrs(srs: Any = {}, keys: string | null = `${KEY}\n`, f: (s: Snapshot) => void = () => {}): Snapshot {
  const s = seedSnapshot();
  s.mailServers[0].spec.outbound = { ...s.mailServers[0].spec.outbound, srs: { keySecretRef: { name: 'srs' }, ...srs } } as never;
  if (keys !== null) s.secrets.push({ metadata: { name: 'srs' }, data: { keys: Buffer.from(keys) } });
  f(s);
  return s;
}

/** Rendered as the operator does it (Secrets the pod mounts must exist), with the PkiCerts' Secrets issued. */
function only(s: Snapshot): { out: ReturnType<typeof render>; server: ServerRender } {
  for (const name of ['post-tls', 'mail-tls']) {
    if (!s.secrets.some((x) => x.metadata.name === name)) s.secrets.push({ metadata: { name }, data: { 'tls.crt': Buffer.from('x'), 'tls.key': Buffer.from('x') } });
  }
  if (!s.secrets.some((x) => x.metadata.name.endsWith('-dkim'))) withOperatorDkimKeys(s);
  const out = render(s, { requirePkiSecrets: true });
  assert.equal(out.servers.length, 1);
  return { out, server: out.servers[0] };
}

const podSpecOf = (r: ServerRender): Any => (r.manifests.find((m) => m.kind === 'Deployment' || m.kind === 'StatefulSet') as Any).spec.template;

describe('operator/render: spec.outbound.srs', () => {
  it('renders outbound.srs with the hostname as default domain, and the relay\'s schema and cross-checks accept it', () => {
    const { server } = only(withSrs());
    assert.equal(server.held, false, server.problems.join('; '));
    const v = validateConfig(structuredClone(server.config));
    assert.ok(v.ok, v.ok ? '' : v.problems.join('; '));
    assert.deepEqual(crossCheck(v.config), []);
    assert.deepEqual(v.config.outbound.srs, { domain: 'post.example.org', keyFile: `${Paths.secretsDir}/srs-key`, maxAgeDays: 21 });
    assert.deepEqual((server.config as Any).outbound.srs, { domain: 'post.example.org', keyFile: `${Paths.secretsDir}/srs-key` }, 'maxAgeDays absent: the relay\'s default');
  });

  it('is served by the relay\'s own loader: the mounted key file (rendered Secret data as files) signs and verifies', async () => {
    const { server } = only(withSrs({}, `# rotated 2026-11\n${KEY2}\n${KEY}\n`));
    const dir = mkdtempSync(join(tmpdir(), 'kubemta-srs-'));
    try {
      mkdirSync(join(dir, 'tables'));
      mkdirSync(join(dir, 'secrets'));
      for (const m of server.manifests.filter((x) => x.kind === 'Secret')) {
        for (const [file, b64] of Object.entries(m.data as Record<string, string>)) writeFileSync(join(dir, 'tables', file), Buffer.from(b64, 'base64'));
      }
      writeFileSync(join(dir, 'secrets', 'srs-key'), `# rotated 2026-11\n${KEY2}\n${KEY}\n`); // what the projected Secret puts there
      const config = JSON.parse(JSON.stringify(server.config).replaceAll(Paths.tablesDir, join(dir, 'tables')).replaceAll(Paths.secretsDir, join(dir, 'secrets')));
      const v = validateConfig(config);
      assert.ok(v.ok, v.ok ? '' : v.problems.join('; '));
      const tables = await loadTables(v.config);
      const address = tables.srs!.forward('alice@example.net');
      assert.match(address, /^SRS0=[^=]+=[A-Z2-7]{2}=example\.net=alice@post\.example\.org$/);
      assert.deepEqual(tables.srs!.reverse(address), { ok: true, address: 'alice@example.net' });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('renders an explicit domain and maxAgeDays', () => {
    const { server } = only(withSrs({ domain: 'fwd.example.org', maxAgeDays: 7 }));
    const v = validateConfig(structuredClone(server.config));
    assert.ok(v.ok, v.ok ? '' : v.problems.join('; '));
    assert.deepEqual(v.config.outbound.srs, { domain: 'fwd.example.org', keyFile: `${Paths.secretsDir}/srs-key`, maxAgeDays: 7 });
  });

  it('projects the key Secret into the secrets volume as srs-key, next to the other users\' Secrets', () => {
    const { server } = only(withSrs({ keySecretRef: { name: 'srs', key: 'custom' } }, null, (s) => {
      s.secrets.push({ metadata: { name: 'srs' }, data: { custom: Buffer.from(KEY) } });
      s.mailServers[0].spec.outbound.dkim = [{ domain: 'example.org', selector: 's1', privateKeySecretRef: { name: 'dkim', key: 'private.key' } }];
      const pem = generateKeyPairSync('ed25519').privateKey.export({ type: 'pkcs8', format: 'pem' });
      s.secrets.push({ metadata: { name: 'dkim' }, data: { 'private.key': Buffer.from(pem) } });
    }));
    assert.equal(server.held, false, server.problems.join('; '));
    const t = podSpecOf(server);
    const vol = t.spec.volumes.find((v: Any) => v.name === 'secrets');
    assert.deepEqual(vol.projected.sources.map((x: Any) => x.secret), [
      { name: 'dkim', items: [{ key: 'private.key', path: 'dkim-s1.example.org.key' }] },
      { name: 'srs', items: [{ key: 'custom', path: 'srs-key' }] },
    ]);
    assert.ok(t.spec.containers[0].volumeMounts.some((m: Any) => m.name === 'secrets' && m.mountPath === Paths.secretsDir && m.readOnly));
  });

  for (const [what, keys, reason, message] of [
    ['no Secret', null, 'SecretNotFound', 'spec.outbound.srs.keySecretRef: no Secret "srs" with key "keys"'],
    ['a Secret without any key line', '\n# a comment\n\n', 'InvalidSpec', 'spec.outbound.srs.keySecretRef: Secret "srs" key "keys" holds no key (one secret per line)'],
    ['a key the relay would refuse (short)', `${KEY}\nshort-secret\n`, 'InvalidSpec', 'spec.outbound.srs.keySecretRef: Secret "srs" key "keys" line 2: a key is at least 16 characters'],
  ] as const) {
    it(`gives the MailServer Ready=False naming spec.outbound.srs.keySecretRef for ${what}, never the key`, () => {
      const { out, server } = only(withSrs({}, keys));
      assert.equal(server.held, true);
      const v = out.verdicts.get('MailServer/default/post')!;
      assert.equal(v.ready, false);
      assert.equal(v.reason, reason);
      assert.equal(v.message, `holding the last good config: MailServer/post: ${message}`);
      // a missing Secret is waited for (members keep what they said); the server's own invalid field is not
      // served as it is, and its members say so, naming it
      const l = out.verdicts.get('Listener/default/inbound')!;
      if (reason === 'SecretNotFound') assert.equal(l.ready, 'held');
      else assert.deepEqual([l.ready, l.reason, l.message], [false, 'MailServerNotReady', 'MailServer "post" is not ready: InvalidSpec']);
      const said = JSON.stringify([...out.verdicts.values()]) + server.problems.join();
      assert.ok(!said.includes('short-secret') && !said.includes(KEY));
    });
  }

  it('offline render (kubemta render -f, Secrets often kept out of the files) does not hold for a missing Secret', () => {
    const out = render(withSrs({}, null));
    assert.equal(out.servers[0].held, false, out.servers[0].problems.join('; '));
  });

  it('refuses a wildcard or malformed domain by schema', () => {
    const out = render(withSrs({ domain: '*.example.org' }));
    const v = out.verdicts.get('MailServer/default/post')!;
    assert.equal(v.ready, false);
    assert.equal(v.reason, 'InvalidSpec');
    assert.match(v.message, /^spec\.outbound\.srs\.domain: /);
  });

  it('turning SRS on rolls the pod (a volume); a rotated key, domain or maxAgeDays does not', () => {
    const plain = only(seedSnapshot()).server;
    const on = only(withSrs()).server;
    const hash = (r: ServerRender) => podSpecOf(r).metadata.annotations['kubemta.io/pod-hash'];
    assert.notEqual(hash(on), hash(plain));
    const rotated = only(withSrs({}, `${KEY2}\n${KEY}\n`)).server;
    assert.equal(hash(rotated), hash(on));
    assert.equal(rotated.configYaml, on.configYaml, 'a rotated key reaches the relay through the mounted Secret only');
    const retuned = only(withSrs({ domain: 'fwd.example.org', maxAgeDays: 7 })).server;
    assert.equal(hash(retuned), hash(on));
    assert.notEqual(retuned.configYaml, on.configYaml, 'domain and maxAgeDays reach the relay through its config');
  });

  it('the volume nudge\'s hash changes when the key Secret changes, and not for an unrelated Secret', () => {
    const { server } = only(withSrs());
    const live = new Map<string, Any>([
      ['srs', { metadata: { name: 'srs', namespace: 'mail' }, data: { keys: Buffer.from(`${KEY}\n`).toString('base64') } }],
      ['other', { metadata: { name: 'other', namespace: 'mail' }, data: { x: 'eA==' } }],
      ['post-tls', { metadata: { name: 'post-tls', namespace: 'mail' }, data: { 'tls.crt': 'YQ==', 'tls.key': 'Yg==' } }],
    ]);
    const ctx = { informers: { Secret: { get: (_ns: string, name: string) => live.get(name) }, ConfigMap: { get: () => undefined } } } as unknown as ControllerContext;
    const before = volumesOf(ctx, 'mail', server.manifests)!.hash;
    live.set('other', { metadata: { name: 'other' }, data: { x: 'eQ==' } });
    assert.equal(volumesOf(ctx, 'mail', server.manifests)!.hash, before, 'a Secret the pods do not mount');
    live.set('srs', { metadata: { name: 'srs' }, data: { keys: Buffer.from(`${KEY2}\n${KEY}\n`).toString('base64') } });
    const rotated = volumesOf(ctx, 'mail', server.manifests)!.hash;
    assert.notEqual(rotated, before, 'the rotated key Secret');
    live.delete('srs');
    assert.notEqual(volumesOf(ctx, 'mail', server.manifests)!.hash, rotated, 'the key Secret deleted');
  });
});
