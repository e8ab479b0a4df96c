import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { WindowTable } from './windows.ts';
import { clientNetwork } from './network.ts';
import { RateLimiter } from './rates.ts';

describe('relay/limits/windows', () => {
  it('keeps a window until its reset time, then opens a fresh one', () => {
    const t = new WindowTable(() => 10);
    const w = t.window('a', 1000, 500);
    w.count = 3;
    assert.equal(t.window('a', 1499, 500).count, 3);
    assert.equal(t.window('a', 1500, 500).count, 0);
  });

  it('a flood of distinct keys never holds more than the cap: the oldest windows go first', () => {
    const t = new WindowTable(() => 100);
    for (let i = 0; i < 100_000; i++) t.window(`k${i}`, 1000 + i, 3_600_000).count = 1;
    assert.equal(t.size, 100);
    assert.equal(t.evicted, 99_900);
    // the newest are kept
    assert.equal(t.window('k99999', 200_000, 3_600_000).count, 1);
    assert.equal(t.window('k0', 200_000, 3_600_000).count, 0);
  });

  it('drops ended windows before it needs to evict live ones', () => {
    const t = new WindowTable(() => 100);
    for (let i = 0; i < 50; i++) t.window(`old${i}`, 0, 10);
    for (let i = 0; i < 60; i++) t.window(`new${i}`, 1000, 10);
    assert.equal(t.evicted, 0);
    assert.equal(t.size, 60);
  });
});

describe('relay/limits/network', () => {
  it('masks IPv4 to its prefix and IPv6 to /64 by default', () => {
    assert.equal(clientNetwork('192.0.2.77', 32, 64), '192.0.2.77/32');
    assert.equal(clientNetwork('192.0.2.77', 24, 64), '192.0.2.0/24');
    assert.equal(clientNetwork('::ffff:192.0.2.77', 16, 64), '192.0.0.0/16');
    assert.equal(clientNetwork('2001:db8:1:2:aaaa:bbbb:cccc:dddd', 32, 64), '2001:db8:1:2:0:0:0:0/64');
    assert.equal(clientNetwork('2001:db8:1:2::1', 32, 64), clientNetwork('2001:db8:1:2:ffff::9', 32, 64));
    assert.notEqual(clientNetwork('2001:db8:1:2::1', 32, 64), clientNetwork('2001:db8:1:3::1', 32, 64));
    assert.equal(clientNetwork('2001:db8:abcd:12ff::1', 32, 60), '2001:db8:abcd:12f0:0:0:0:0/60');
    assert.equal(clientNetwork('::1', 32, 128), '0:0:0:0:0:0:0:1/128');
  });
});

describe('relay/limits/rates', () => {
  const rates = (over = {}) => ({ client: { windowSeconds: 60, ipv4Prefix: 32, ipv6Prefix: 64, messages: 2 }, sender: { windowSeconds: 3600, messages: 5, recipients: 3 }, maxTracked: 100, ...over });

  it('a message refused per sender is not counted per client, nor the other way round', () => {
    const l = new RateLimiter(() => rates({ sender: { windowSeconds: 3600, messages: 1 } }));
    const scope = { name: 'x' };
    assert.equal(l.message(scope, '192.0.2.1', 'user max', 0), undefined);
    assert.equal(l.message(scope, '192.0.2.1', 'user max', 1)?.limit, 'sender-messages');
    // the refused one did not use the client's second message
    assert.equal(l.message(scope, '192.0.2.1', 'user moritz', 2), undefined);
    const r = l.message(scope, '192.0.2.1', 'user other', 3);
    assert.equal(r?.limit, 'client-messages');
    assert.equal(r?.resetInMs, 60_000 - 3);
  });

  it('with IPv6, the whole /64 counts as one client', () => {
    const l = new RateLimiter(() => rates());
    const scope = { name: 'x' };
    assert.equal(l.message(scope, '2001:db8::1', undefined, 0), undefined);
    assert.equal(l.message(scope, '2001:db8::2', undefined, 0), undefined);
    assert.equal(l.message(scope, '2001:db8::3', undefined, 0)?.who, 'network 2001:db8:0:0:0:0:0:0/64');
    assert.equal(l.message(scope, '2001:db8:0:1::3', undefined, 0), undefined);
  });

  it('reports the first refusal of a window as first, the rest not', () => {
    const l = new RateLimiter(() => rates({ client: { windowSeconds: 1, ipv4Prefix: 32, ipv6Prefix: 64, connections: 1 } }));
    const scope = { name: 'x' };
    assert.equal(l.connection(scope, '192.0.2.1', 0), undefined);
    assert.equal(l.connection(scope, '192.0.2.1', 10)?.firstInWindow, true);
    assert.equal(l.connection(scope, '192.0.2.1', 20)?.firstInWindow, false);
    assert.equal(l.connection(scope, '192.0.2.1', 1000), undefined);
    assert.equal(l.connection(scope, '192.0.2.1', 1010)?.firstInWindow, true);
  });
});
