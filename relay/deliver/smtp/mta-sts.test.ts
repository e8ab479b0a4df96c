import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:https';
import { join } from 'node:path';
import { baseConfig, killChild, spawnRelay, tempDir, writeConfig } from '../../../test/harness.ts';
import { RelayChild } from '../../../test/relay-child.ts';
import { startDns, type TestDns, type Zone } from '../../../test/dns-server.ts';
import { startSink, type TestSink } from '../../../test/smtp-sink.ts';
import { until } from '../../../test/until.ts';
import { certificate, chain } from '../../../test/certs.ts';
import { validateMx } from 'mailauth/lib/mta-sts.js';
import { applyStsPolicy } from './mta-sts.ts';

const hops = [
  { host: 'mx1.example.net', preference: 10, addresses: ['192.0.2.1'] },
  { host: 'backup.elsewhere.test', preference: 20, addresses: ['192.0.2.2'] },
];

describe('relay/deliver/smtp/mta-sts', () => {
  it('enforce: keeps only the MX hosts the policy lists (wildcards as RFC 8461 defines them)', () => {
    const d = applyStsPolicy({ mode: 'enforce', mx: ['*.example.net'] }, hops, validateMx);
    assert.deepEqual(d.kind === 'enforce' && d.hops.map((h) => h.host), ['mx1.example.net']);
  });

  it('enforce with no listed MX: nothing to deliver to (the caller defers)', () => {
    assert.deepEqual(applyStsPolicy({ mode: 'enforce', mx: ['mail.other.test'] }, hops, validateMx), { kind: 'nomatch', mx: ['mx1.example.net', 'backup.elsewhere.test'] });
  });

  it('testing only reports mismatches; none changes nothing', () => {
    assert.deepEqual(applyStsPolicy({ mode: 'testing', mx: ['mx1.example.net'] }, hops, validateMx), { kind: 'testing', mismatched: ['backup.elsewhere.test'] });
    assert.deepEqual(applyStsPolicy({ mode: 'none' }, hops, validateMx), { kind: 'none' });
  });
});

describe('relay/deliver/smtp: MTA-STS end to end', { skip: process.getuid?.() === 0 ? false : 'needs root (the policy host listens on port 443, as RFC 8461 fixes it)' }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let dns: TestDns;
  let sink: TestSink;
  let web: PolicyHost;
  let relay: Awaited<ReturnType<typeof spawnRelay>> | undefined;
  const policy = (mode: string, mx: string[]) => ['version: STSv1', `mode: ${mode}`, ...mx.map((m) => `mx: ${m}`), 'max_age: 86400', ''].join('\r\n');

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    const ca = await certificate('Test MTA-STS CA', { isCa: true });
    await writeFile(join(dir, 'ca.pem'), ca.cert);
    const domains = ['sts.test', 'nomatch.test', 'wrongname.test', 'testing.test'];
    const policyCert = await certificate(domains.map((d) => `mta-sts.${d}`), { ca });
    const mxCert = await certificate('mx.sts.test', { ca });
    sink = await startSink({ tls: chain(mxCert, ca) });
    // the policy host: HTTPS on port 443 (RFC 8461 3.3 fixes it) on a loopback address of its own
    const address = `127.44.${1 + Math.floor(Math.random() * 250)}.${1 + Math.floor(Math.random() * 250)}`;
    web = await startPolicyHost(address, policyCert, {
      'mta-sts.sts.test': policy('enforce', ['mx.sts.test']),
      'mta-sts.nomatch.test': policy('enforce', ['mx.elsewhere.test']),
      'mta-sts.wrongname.test': policy('enforce', ['*.wrongname.test']),
      'mta-sts.testing.test': policy('testing', ['mx.elsewhere.test']),
    });
    const zone: Zone = { 'mx.sts.test': { a: ['127.0.0.1'] }, 'mx.wrongname.test': { a: ['127.0.0.1'] } };
    for (const d of domains) {
      zone[d] = { mx: [[10, d === 'wrongname.test' || d === 'testing.test' ? 'mx.wrongname.test' : 'mx.sts.test']] };
      zone[`_mta-sts.${d}`] = { txt: ['v=STSv1; id=20261206a;'] };
      zone[`mta-sts.${d}`] = { a: [address] };
    }
    dns = await startDns(zone);
    const file = await writeConfig(dir, baseConfig({
      log: { level: 'info' },
      actions: { out: { type: 'relay' } },
      rules: [{ from: 'any', for: 'any', action: 'out' }],
      outbound: { resolver: { servers: [dns.server], timeoutSeconds: 1 }, port: sink.port, family: 'inet4', tls: 'opportunistic', mtaSts: true, retry: { minSeconds: 60, maxSeconds: 60 } },
    }));
    // the relay process trusts the test CA (for the policy host and the MX) the way a user adds a private CA
    relay = await spawnRelay(file, [], ['env', `NODE_EXTRA_CA_CERTS=${join(dir, 'ca.pem')}`]);
  });
  after(async () => {
    await killChild(relay?.child);
    await Promise.all([sink?.close(), dns?.close(), web?.close()]);
    await cleanup?.();
  });

  const send = (to: string) => new RelayChild(relay!).send(to);
  const events = () => new RelayChild(relay!).events();
  const attempt = (to: string, ms: number) => new RelayChild(relay!).attempt(to, ms);

  it('enforce: fetches the policy over HTTPS and delivers to a listed MX over verified TLS', async () => {
    await send('a@sts.test');
    const got = await until('delivery to mx.sts.test', () => sink.received.find((m) => m.to.includes('a@sts.test')), 15_000);
    assert.equal(got.secure, true);
    assert.equal(web.requests['mta-sts.sts.test'], 1);
  });

  it('enforce raises TLS to verify: a listed MX whose certificate is not for its name is deferred', async () => {
    await send('b@wrongname.test');
    const e = await attempt('b@wrongname.test', 15_000);
    assert.equal(e.result, 'deferred');
    assert.match(String(e.detail), /mx\.wrongname\.test\[127\.0\.0\.1\].*(altnames|Hostname|certificate)/i);
    assert.ok(!sink.received.some((m) => m.to.includes('b@wrongname.test')));
  });

  it('enforce: a mail whose MX is not in the policy is deferred 4.7.5', async () => {
    await send('c@nomatch.test');
    const e = await attempt('c@nomatch.test', 15_000);
    assert.equal(e.result, 'deferred');
    assert.match(String(e.detail), /^4\.7\.5 MTA-STS policy of nomatch\.test lists none of its MX hosts \(mx\.sts\.test\)/);
  });

  it('testing only logs: the unlisted MX with the wrong certificate name gets the mail', async () => {
    await send('d@testing.test');
    await until('delivery through mx.wrongname.test', () => sink.received.find((m) => m.to.includes('d@testing.test')), 15_000);
    await until('the MTA-STS testing log line', () => events().find((e) => e.msg === 'MTA-STS (testing): MX hosts not in the policy' && e.domain === 'testing.test'), 5000);
  });

  it('the cached policy holds while the policy host is down, also when the TXT id changes (RFC 8461 5.1)', async () => {
    await web.close();
    const fetched = web.requests['mta-sts.nomatch.test'];
    // same id: the cached policy applies without a fetch
    await send('e@nomatch.test');
    const same = await attempt('e@nomatch.test', 15_000);
    assert.match(String(same.detail), /^4\.7\.5 MTA-STS policy of nomatch\.test/);
    assert.equal(web.requests['mta-sts.nomatch.test'], fetched, 'no fetch while the id is unchanged');
    // a new id asks for a fetch, which fails: the cached policy still applies, and the failure is logged
    dns.zone['_mta-sts.nomatch.test'] = { txt: ['v=STSv1; id=20261206b;'] };
    await send('f@nomatch.test');
    const changed = await attempt('f@nomatch.test', 20_000);
    assert.match(String(changed.detail), /^4\.7\.5 MTA-STS policy of nomatch\.test/);
    await until('the fetch failure in the log', () => events().find((e) => e.msg === 'MTA-STS: policy fetch failed; applying the cached policy, if any' && e.domain === 'nomatch.test' && e.mode === 'nomatch'), 5000);
  });
});

interface PolicyHost {
  /** HTTPS requests per Host header. */
  requests: Record<string, number>;
  close(): Promise<void>;
}

/** An HTTPS server on address:443 serving /.well-known/mta-sts.txt per Host header. */
async function startPolicyHost(address: string, tls: { key: string; cert: string }, policies: Record<string, string>): Promise<PolicyHost> {
  const requests: Record<string, number> = {};
  const server = createServer(tls, (req, res) => {
    const host = (req.headers.host ?? '').replace(/:\d+$/, '');
    requests[host] = (requests[host] ?? 0) + 1;
    const body = req.url === '/.well-known/mta-sts.txt' ? policies[host] : undefined;
    res.writeHead(body ? 200 : 404, { 'content-type': 'text/plain' }).end(body ?? 'not found');
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(443, address, () => resolve());
  });
  let closed: Promise<void> | undefined;
  return {
    requests,
    close: () =>
      (closed ??= new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      })),
  };
}

