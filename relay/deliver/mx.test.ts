import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDns, type TestDns } from '../../test/dns-server.ts';
import { addressLiteral, MxResolver, shuffleEqualPreferences } from './mx.ts';

describe('relay/deliver/mx', () => {
  let dns: TestDns;
  before(async () => {
    dns = await startDns({
      'example.net': { mx: [[20, 'mx2.example.net'], [10, 'mx1.example.net']] },
      'mx1.example.net': { a: ['127.0.0.1'], aaaa: ['::1'] },
      'mx2.example.net': { a: ['127.0.0.2'] },
      'plain.test': { a: ['127.0.0.3'] },
      'nomail.test': { mx: [[0, '.']] },
      'empty.test': {},
      'broken.test': { servfail: true },
      'dangling.test': { mx: [[10, 'gone.test']] },
      'v6only.test': { aaaa: ['::1'] },
    });
  });
  after(() => dns.close());
  const resolver = (family: 'inet4' | 'inet6' | 'any' = 'any') => new MxResolver({ servers: [dns.server], timeoutMs: 1000, family, cacheMs: 0 });

  it('orders MX hosts by preference, lowest first', async () => {
    const r = await resolver().resolveDomain('example.net');
    assert.equal(r.kind, 'found');
    assert.deepEqual(r.kind === 'found' && r.hops.map((h) => [h.host, h.preference]), [['mx1.example.net', 10], ['mx2.example.net', 20]]);
  });

  it('limits addresses to the configured family, IPv4 first with any', async () => {
    const any = await resolver('any').resolveDomain('example.net');
    assert.deepEqual(any.kind === 'found' && any.hops[0].addresses, ['127.0.0.1', '::1']);
    const v4 = await resolver('inet4').resolveDomain('example.net');
    assert.deepEqual(v4.kind === 'found' && v4.hops[0].addresses, ['127.0.0.1']);
    const v6 = await resolver('inet6').resolveDomain('example.net');
    assert.deepEqual(v6.kind === 'found' && v6.hops.map((h) => h.host), ['mx1.example.net'], 'mx2 has no AAAA and drops out');
  });

  it('falls back to the A record when a domain has no MX (implicit MX)', async () => {
    const r = await resolver().resolveDomain('plain.test');
    assert.deepEqual(r, { kind: 'found', hops: [{ host: 'plain.test', preference: 0, addresses: ['127.0.0.3'] }] });
  });

  it('is permanent for NXDOMAIN, a null MX, and a domain with neither MX nor address', async () => {
    assert.deepEqual(await resolver().resolveDomain('nosuch.test'), { kind: 'notfound', status: '5.1.2', reason: 'domain nosuch.test does not exist' });
    const nul = await resolver().resolveDomain('nomail.test');
    assert.equal(nul.kind === 'notfound' && nul.status, '5.1.10');
    const empty = await resolver().resolveDomain('empty.test');
    assert.equal(empty.kind, 'notfound');
    const v4 = await resolver('inet4').resolveDomain('v6only.test');
    assert.equal(v4.kind, 'notfound', 'an IPv6-only domain has no route for an inet4 relay');
  });

  it('is temporary for SERVFAIL and for MX names that do not resolve', async () => {
    assert.equal((await resolver().resolveDomain('broken.test')).kind, 'tempfail');
    assert.equal((await resolver().resolveDomain('dangling.test')).kind, 'tempfail');
  });

  it('reads address literals without DNS', () => {
    assert.equal(addressLiteral('[127.0.0.1]'), '127.0.0.1');
    assert.equal(addressLiteral('[IPv6:::1]'), '::1');
    assert.equal(addressLiteral('example.net'), undefined);
  });

  it('shuffles only hosts of equal preference', () => {
    const hosts = [{ host: 'c', preference: 20 }, { host: 'a', preference: 10 }, { host: 'b', preference: 10 }];
    let n = 0;
    const seq = [0.9, 0.5, 0.1];
    const out = shuffleEqualPreferences(hosts, () => seq[n++]);
    assert.deepEqual(out.map((h) => h.host), ['b', 'a', 'c']);
  });
});
