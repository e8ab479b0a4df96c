import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DomainSet } from './domains.ts';

function set(...patterns: string[]): DomainSet {
  const s = new DomainSet();
  for (const p of patterns) s.add(p);
  return s;
}

test('exact names match case-insensitively, with or without a trailing dot', () => {
  const s = set('Example.ORG');
  assert.equal(s.match('example.org'), 'Example.ORG');
  assert.ok(s.has('EXAMPLE.org.'));
  assert.ok(!s.has('www.example.org'));
});

test('*.example.org matches every subdomain depth but not the domain itself or look-alikes', () => {
  const s = set('*.example.org');
  for (const yes of ['a.example.org', 'a.b.c.example.org', 'MAIL.Example.Org']) assert.ok(s.has(yes), yes);
  for (const no of ['example.org', 'badexample.org', 'a.example.org.evil', 'example.org.a', 'a.example.com']) assert.ok(!s.has(no), no);
});

test('*.example.* (the seed\'s max@*.example.*) matches which names, and which it must not', () => {
  const s = set('*.example.*');
  for (const yes of ['a.example.org', 'mail.example.com', 'x.y.example.co.uk', 'a.example.museum']) assert.ok(s.has(yes), yes);
  // not the bare domains, not names that merely contain "example"
  for (const no of ['example.org', 'example.com', 'a.notexample.org', 'a.example', 'example', 'a.examples.org']) assert.ok(!s.has(no), no);
});

test('example.* (a TLD wildcard) matches every top-level domain and deeper suffixes, but no subdomain', () => {
  const s = set('example.*');
  for (const yes of ['example.org', 'example.co.uk', 'example.evil']) assert.ok(s.has(yes), yes);
  for (const no of ['a.example.org', 'example', 'myexample.org']) assert.ok(!s.has(no), no);
});

test('a star inside a label works as fnmatch does', () => {
  const s = set('mx*.example.org');
  assert.ok(s.has('mx1.example.org'));
  assert.ok(s.has('mx.a.example.org') === true); // fnmatch's * crosses dots
  assert.ok(!s.has('mail.example.org'));
});

test('bad patterns are refused', () => {
  for (const bad of ['', '.example.org', 'exa mple.org', 'a..b', 'a/b.org']) {
    assert.throws(() => set(bad), /not a domain/, JSON.stringify(bad));
  }
});

test('100,000 patterns of mixed shapes all match their names, and only those (bench/resolution.ts measures the cost)', () => {
  const s = new DomainSet();
  for (let i = 0; i < 100_000; i++) s.add(i % 3 === 0 ? `brand${i}.com` : i % 3 === 1 ? `*.brand${i}.com` : `brand${i}.*`);
  let hits = 0;
  for (let i = 0; i < 100_000; i++) if (s.has(i % 3 === 0 ? `brand${i}.com` : i % 3 === 1 ? `a.b.brand${i}.com` : `brand${i}.co.uk`)) hits++;
  assert.equal(hits, 100_000);
  for (const no of ['brand1.com', 'a.brand0.com', 'a.brand2.net', 'brand100000.com']) assert.ok(!s.has(no), no);
});
