// Hot reload as Kubernetes drives it: certificates and config change under live sessions, a broken config
// is refused while the old one keeps serving, and the ..data symlink swap of a mounted ConfigMap is seen.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, rename, symlink, writeFile, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { TLSSocket } from 'node:tls';
import * as yaml from 'js-yaml';
import { generate } from 'selfsigned';
import { baseConfig, exited, RawSmtp, spawnRelay, startTestRelay, tempDir, writeConfig } from '../../test/harness.ts';
import { until } from '../../test/until.ts';


/** STARTTLS on a raw session; resolves with the TLS socket and the served certificate's fingerprint. */
async function starttls(port: number): Promise<{ tls: TLSSocket; fingerprint: string; read: () => string }> {
  const c = await RawSmtp.open(port);
  await c.command('EHLO x');
  assert.match(await c.command('STARTTLS'), /^220/);
  const { tls, read } = await c.upgrade('post.example.org');
  return { tls, fingerprint: tls.getPeerCertificate().fingerprint256, read };
}

describe('relay/ops reload', () => {
  it('serves a rotated certificate to new sessions while a live TLS session goes on', async () => {
    const { dir, cleanup } = await tempDir();
    const t = await startTestRelay(dir, baseConfig({ listeners: [{ name: 'in', address: '127.0.0.1', port: 0, tls: 'starttls', pki: 'post' }] }));
    const port = t.port('in');
    const live = await starttls(port);
    const pems = await generate([{ name: 'commonName', value: 'post.example.org' }], { keyType: 'rsa', keySize: 2048, algorithm: 'sha256' });
    await writeFile(join(dir, 'certs/post.key.new'), pems.private);
    await writeFile(join(dir, 'certs/post.crt.new'), pems.cert);
    await rename(join(dir, 'certs/post.key.new'), join(dir, 'certs/post.key'));
    await rename(join(dir, 'certs/post.crt.new'), join(dir, 'certs/post.crt'));
    let fresh = '';
    await until('condition', async () => {
      const s = await starttls(port);
      fresh = s.fingerprint;
      s.tls.destroy();
      return fresh !== live.fingerprint;
    }, 8000);
    // the session that started before the rotation still works
    live.tls.write('EHLO still-here\r\nNOOP\r\n');
    await until('condition', () => /250 .*OK|250 2\.0\.0/i.test(live.read()), 8000);
    live.tls.destroy();
    await t.relay.stop();
    await cleanup();
  });

  it('refuses a broken config, keeps serving the old one, and picks up the next good one', async () => {
    const { dir, cleanup } = await tempDir();
    const config = baseConfig({ listeners: [{ name: 'a', address: '127.0.0.1', port: 0 }] });
    const t = await startTestRelay(dir, config);
    const before = await t.relay.relay.metrics.reloads.get();
    await writeFile(t.file, 'listeners: [{port: "not a port"}]\n');
    await until('condition', async () => (await t.relay.relay.metrics.reloads.get()).values.some((v) => v.labels.result === 'refused' && v.value >= 1), 8000);
    const c = await RawSmtp.open(t.port('a'));
    assert.match(await c.command('EHLO x'), /^250/);
    c.end();
    // a good config with a second listener
    await writeConfig(dir, { ...config, listeners: [{ name: 'a', address: '127.0.0.1', port: 0 }, { name: 'b', address: '127.0.0.1', port: 0, hostname: 'b.test' }] });
    await until('condition', () => t.relay.ports.b !== undefined, 8000);
    const b = await RawSmtp.open(t.relay.ports.b);
    assert.match(await b.command('EHLO x'), /^250-b\.test/);
    b.end();
    void before;
    await t.relay.stop();
    await cleanup();
  });

  it('follows the ..data symlink swap of a mounted ConfigMap, and SIGHUP reloads too', async () => {
    const { dir, cleanup } = await tempDir();
    const mount = join(dir, 'etc');
    await mkdir(join(mount, '..v1'), { recursive: true });
    const cfg = (hostname: string) => yaml.dump(baseConfig({ hostname, listeners: [{ name: 'a', address: '127.0.0.1', port: 0 }], queue: { dir: join(dir, 'queue') }, pki: [], log: { level: 'info' } }));
    await writeFile(join(mount, '..v1', 'relay.yaml'), cfg('one.test'));
    await symlink('..v1', join(mount, '..data'));
    await symlink('..data/relay.yaml', join(mount, 'relay.yaml'));
    const r = await spawnRelay(join(mount, 'relay.yaml'));
    try {
    const greet = async () => {
      const c = await RawSmtp.open(r.ports.a);
      const e = await c.command('EHLO x');
      c.end();
      return e;
    };
    assert.match(await greet(), /^250-one\.test/);
    // what the kubelet does: write a new timestamped dir, point a temp link at it, rename over ..data
    await mkdir(join(mount, '..v2'));
    await writeFile(join(mount, '..v2', 'relay.yaml'), cfg('two.test'));
    await symlink('..v2', join(mount, '..data_tmp'));
    await rename(join(mount, '..data_tmp'), join(mount, '..data'));
    await until('condition', async () => /^250-two\.test/.test(await greet()), 8000);
    await writeFile(join(mount, '..v2', 'relay.yaml'), cfg('three.test'));
    r.child.kill('SIGHUP');
    await until('condition', async () => /^250-three\.test/.test(await greet()), 8000);
    assert.match(r.log(), /config reloaded/);
    // the log line says what changed: the file behind the swapped ..data link, then the signal
    assert.match(r.log(), /"changed":\["[^"]*relay\.yaml"\][^\n]*"msg":"config reloaded"/);
    assert.match(r.log(), /"changed":"SIGHUP"[^\n]*"msg":"config reloaded"/);
    } finally {
      r.child.kill('SIGTERM');
      await exited(r.child);
    }
    void readFile;
    await cleanup();
  });

  it('reloads a changed table file as a whole; a bad line keeps the old table serving', async () => {
    const { dir, cleanup } = await tempDir();
    await writeFile(join(dir, 'virtual'), 'ann@example.test ann\n');
    const t = await startTestRelay(
      dir,
      baseConfig({
        listeners: [{ name: 'a', address: '127.0.0.1', port: 0 }],
        tables: { v: { type: 'virtual', file: 'virtual' } },
        actions: { mbox: { type: 'mbox' } },
        rules: [{ from: 'any', for: { domain: 'example.test' }, virtual: 'v', action: 'mbox' }],
      }),
    );
    const rcpt = async (to: string) => {
      const c = await RawSmtp.open(t.port('a'));
      await c.command('EHLO x');
      await c.command('MAIL FROM:<s@elsewhere.test>');
      const r = await c.command(`RCPT TO:<${to}>`);
      c.end();
      return r.slice(0, 9);
    };
    try {
      assert.equal(await rcpt('bob@example.test'), '550 5.1.1');
      await writeFile(join(dir, 'virtual.new'), 'ann@example.test ann\nbob@example.test bob\n');
      await rename(join(dir, 'virtual.new'), join(dir, 'virtual'));
      await until('condition', async () => (await rcpt('bob@example.test')).startsWith('250'), 8000);
      // a line kubemta refuses: the whole reload is refused, ann and bob keep resolving
      const refused = async () => (await t.relay.relay.metrics.reloads.get()).values.find((v) => v.labels.result === 'refused')?.value ?? 0;
      const before = await refused();
      await writeFile(join(dir, 'virtual'), 'ann@example.test ann\nbob@example.test bob\ncarol@example.test |/usr/bin/procmail\n');
      await until('condition', async () => (await refused()) > before, 8000);
      assert.match(await rcpt('bob@example.test'), /^250/);
      assert.equal(await rcpt('carol@example.test'), '550 5.1.1');
    } finally {
      await t.relay.stop();
      await cleanup();
    }
  });
});
