// Smarthost names resolve the way a pod resolves them (outbound.hostLookup): getaddrinfo with /etc/hosts
// (a pod's hostAliases) and resolv.conf's search domains, or DNS servers asked directly; and no connection
// ever leaves over another family than outbound.family. The relay runs as a child in a private mount
// namespace whose /etc/hosts and /etc/resolv.conf are bind-mounted test files (the machine's stay untouched).
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startDns, type TestDns } from '../../test/dns-server.ts';
import { startSink, type TestSink } from '../../test/smtp-sink.ts';
import { injectMail } from '../../test/inject.ts';
import { baseConfig, KUBEMTA, killChild, run, spawnRelay, startTestRelay, swaks, tempDir, writeConfig } from '../../test/harness.ts';
import { until } from '../../test/until.ts';
import { MxResolver } from './mx.ts';

const root = process.getuid?.() === 0;

describe('relay/deliver/mx: host lookups', () => {
  let dns: TestDns;
  before(async () => {
    dns = await startDns({ 'smart.test': { a: ['127.0.0.5'] } });
  });
  after(() => dns.close());
  const resolver = (family: 'inet4' | 'inet6' | 'any' = 'any') => new MxResolver({ servers: [dns.server], timeoutMs: 1000, family, cacheMs: 0 });

  it('native finds what only /etc/hosts knows; dns does not, and dns then native falls back', async () => {
    // `localhost` is in every /etc/hosts and in no DNS zone (the test's server answers NXDOMAIN)
    const native = await resolver('inet4').hostAddresses('localhost', ['native']);
    assert.deepEqual(native, { kind: 'ok', value: ['127.0.0.1'] });
    assert.equal((await resolver('inet4').hostAddresses('localhost', ['dns'])).kind, 'nxdomain');
    assert.deepEqual(await resolver('inet4').hostAddresses('localhost', ['dns', 'native']), { kind: 'ok', value: ['127.0.0.1'] });
    assert.deepEqual(await resolver().hostAddresses('smart.test', ['dns', 'native']), { kind: 'ok', value: ['127.0.0.5'] }, 'the first way that finds wins');
  });

  it('an IP literal of another family than outbound.family has no usable address', async () => {
    assert.equal((await resolver('inet4').hostAddresses('::1', ['native'])).kind, 'none');
    assert.deepEqual(await resolver('inet6').hostAddresses('::1', ['native']), { kind: 'ok', value: ['::1'] });
  });
});

describe('relay/deliver/smtp: smarthost names as a pod resolves them', { skip: root ? false : 'needs root (a private mount namespace for /etc/hosts and /etc/resolv.conf)' }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let dns: TestDns;
  let sink: TestSink;
  let relay: Awaited<ReturnType<typeof spawnRelay>> | undefined;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    sink = await startSink();
    // the pod's cluster DNS: resolv.conf holds no port, so it listens on 53, on a loopback address of its own
    const address = `127.53.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    dns = await startDns({ 'relay.mail.svc.cluster.local': { a: ['127.0.0.1'] } }, { address, port: 53 });
    // what the kubelet writes into a pod in namespace `mail` (search list, ndots:5), and a hostAliases entry
    await writeFile(join(dir, 'resolv.conf'), `nameserver ${address}\nsearch mail.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5 timeout:1 attempts:1\n`);
    await writeFile(join(dir, 'hosts'), '127.0.0.1 localhost\n127.0.0.1 smarthost.aliased.test\n');
    const file = await writeConfig(dir, baseConfig({
      log: { level: 'info' },
      actions: {
        viaAlias: { type: 'relay', smarthost: `smtp://smarthost.aliased.test:${sink.port}` },
        viaService: { type: 'relay', smarthost: `smtp://relay.mail:${sink.port}` },
      },
      rules: [
        { from: 'any', for: { domain: 'alias.test' }, action: 'viaAlias' },
        { from: 'any', for: { domain: 'service.test' }, action: 'viaService' },
      ],
      // outbound.resolver stays the harness's dead 127.0.0.1:9: native lookups never ask it
      outbound: { resolver: { servers: ['127.0.0.1:9'], timeoutSeconds: 0.2 }, tls: 'none', family: 'inet4', retry: { minSeconds: 0.2, maxSeconds: 0.4 } },
    }));
    const namespace = ['unshare', '--mount', '--propagation', 'private', 'sh', '-c', 'mount --bind "$0" /etc/hosts && mount --bind "$1" /etc/resolv.conf && shift && exec "$@"', join(dir, 'hosts'), join(dir, 'resolv.conf')];
    relay = await spawnRelay(file, [], namespace);
  });
  after(async () => {
    await killChild(relay?.child);
    await Promise.all([sink?.close(), dns?.close()]);
    await cleanup?.();
  });

  it('delivers to a smarthost named only in /etc/hosts (a pod\'s hostAliases)', async () => {
    const r = await swaks(relay!.ports.plain, ['--from', 'a@sender.test', '--to', 'x@alias.test']);
    assert.equal(r.code, 0, r.transcript);
    await until('delivery through smarthost.aliased.test', () => sink.received.find((m) => m.to.includes('x@alias.test')), 10_000);
  });

  it('delivers to a smarthost named by a Service\'s short name (relay.mail), through the search domains', async () => {
    const r = await swaks(relay!.ports.plain, ['--from', 'a@sender.test', '--to', 'y@service.test']);
    assert.equal(r.code, 0, r.transcript);
    await until('delivery through relay.mail', () => sink.received.find((m) => m.to.includes('y@service.test')), 10_000);
    assert.ok(dns.queries.includes('A relay.mail.svc.cluster.local'), `asked: ${dns.queries.join(', ')}`);
  });
});

describe('relay/deliver/smtp: outbound.family holds for IP-literal smarthosts', () => {
  it('kubemta check refuses smtp://[::1] under family inet4, naming the field', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const file = await writeConfig(dir, baseConfig({
        actions: { out: { type: 'relay', smarthost: 'smtp://[::1]:2525' } },
        outbound: { family: 'inet4', smarthost: 'smtp://[::1]:2525' },
      }));
      const r = await run(KUBEMTA, ['check', '--config', file]);
      assert.equal(r.code, 1, r.stdout + r.stderr);
      assert.match(r.stdout + r.stderr, /outbound\.smarthost: ::1 is an IPv6 address and outbound\.family is inet4/);
      assert.match(r.stdout + r.stderr, /actions\.out\.smarthost: ::1 is an IPv6 address and outbound\.family is inet4/);
      const v6 = await writeConfig(dir, baseConfig({ outbound: { family: 'inet6', smarthost: 'smtp://[::1]:2525' } }), 'v6.yaml');
      assert.equal((await run(KUBEMTA, ['check', '--config', v6])).code, 0);
    } finally {
      await cleanup();
    }
  });

  it('delivery defers rather than connect over IPv6 when family is inet4', async () => {
    const { dir, cleanup } = await tempDir();
    const sink = await startSink({ address: '::1' });
    const t = await startTestRelay(dir, baseConfig({ outbound: { family: 'inet4', tls: 'none', smarthost: `smtp://127.0.0.1:${sink.port}`, retry: { minSeconds: 60, maxSeconds: 60 } } }));
    try {
      // a config that check refuses cannot be loaded; the agent holds the line on its own all the same
      t.relay.relay.snapshot.config.outbound.smarthost = `smtp://[::1]:${sink.port}`;
      const id = await injectMail(t.relay, { from: 'a@sender.test', to: ['z@far.test'] });
      await until('a deferred attempt', () => (t.relay.relay.queue.get(id)?.state.recipients[0].attempts ?? 0) >= 1, 5000);
      assert.match(t.relay.relay.queue.get(id)!.state.recipients[0].lastError ?? '', /^4\.4\.3 smarthost ::1: ::1 is an IPv6 address and outbound\.family is inet4/);
      assert.equal(sink.connections, 0, 'nothing connected to [::1]');
    } finally {
      await t.relay.stop();
      await sink.close();
      await cleanup();
    }
  });
});
