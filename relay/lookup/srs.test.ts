import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Srs } from './srs.ts';

const DAY = 86_400_000;
const now = Date.UTC(2026, 10, 26);
const srs = new Srs(['current-key', 'old-key'], 'Relay.Example.ORG', 21);

test('rewrites a sender to SRS0 at our domain and back, also with the local part in another case', () => {
  const fwd = srs.forward('alice@example.net', now);
  assert.match(fwd, /^SRS0=[A-Za-z0-9+/]{4}=[A-Z2-7]{2}=example\.net=alice@relay\.example\.org$/);
  assert.ok(srs.isSrs(fwd));
  assert.deepEqual(srs.reverse(fwd, now + 3 * DAY), { ok: true, address: 'alice@example.net' });
  assert.deepEqual(srs.reverse(fwd.toLowerCase(), now), { ok: true, address: 'alice@example.net' });
  assert.equal(srs.forward('', now), '', 'the null sender stays null');
  assert.equal(srs.forward(fwd, now), fwd, 'our own SRS address is not wrapped again');
});

test('refuses a forged hash, a tampered address and an expired stamp', () => {
  const fwd = srs.forward('alice@example.net', now);
  const forged = fwd.replace(/^SRS0=[^=]{4}=/, 'SRS0=AAAA=');
  assert.deepEqual(srs.reverse(forged, now), { ok: false, reason: 'bad hash' });
  assert.deepEqual(srs.reverse(fwd.replace('=alice@', '=mallory@'), now), { ok: false, reason: 'bad hash' });
  assert.deepEqual(srs.reverse(fwd, now + 22 * DAY), { ok: false, reason: 'expired' });
  assert.deepEqual(srs.reverse('alice@relay.example.org', now), { ok: false, reason: 'not an SRS address' });
});

test('verifies with every key, signs with the first (rotation)', () => {
  const before = new Srs(['old-key'], 'relay.example.org', 21).forward('bob@example.com', now);
  assert.deepEqual(srs.reverse(before, now), { ok: true, address: 'bob@example.com' });
  assert.deepEqual(new Srs(['other'], 'relay.example.org', 21).reverse(before, now), { ok: false, reason: 'bad hash' });
});

test('an SRS0 address of another forwarder becomes SRS1, which reverses to that forwarder', () => {
  const first = new Srs(['k1'], 'first.example', 21).forward('carol@example.net', now);
  const second = srs.forward(first, now);
  assert.match(second, /^SRS1=[^=]{4}=first\.example==[^=]{4}=[A-Z2-7]{2}=example\.net=carol@relay\.example\.org$/);
  assert.deepEqual(srs.reverse(second, now), { ok: true, address: first });
  const third = new Srs(['k3'], 'third.example', 21).forward(second, now);
  assert.match(third, /^SRS1=[^=]{4}=first\.example==/, 'an SRS1 keeps pointing at the first forwarder');
});
