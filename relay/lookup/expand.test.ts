// Resolution semantics through the policy the relay uses at RCPT time (buildPolicy), on configs loaded and
// validated as the relay loads them. Delivery into mailboxes through real clients: relay/seed.test.ts.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../config/load.ts';
import { baseConfig, ROOT, tempDir, writeConfig } from '../../test/harness.ts';
import { buildPolicy } from './rules.ts';
import { loadTables } from './tables.ts';
import type { RecipientContext, RecipientDecision } from './policy.ts';

const outside: RecipientContext = { listener: 'inbound', clientAddress: '192.0.2.7', from: 'someone@elsewhere.test' };
const loopback: RecipientContext = { ...outside, clientAddress: '127.0.0.1' };

type Resolve = (rcpt: string, ctx?: RecipientContext) => Promise<RecipientDecision>;

async function policyFromFile(file: string): Promise<Resolve> {
  const { config } = loadConfig(file);
  const policy = buildPolicy(config, await loadTables(config));
  assert.ok(policy);
  return async (rcpt, ctx = outside) => policy.decide(ctx, rcpt);
}

async function policyOf(extra: Record<string, unknown>, files: Record<string, string> = {}): Promise<Resolve> {
  const { dir } = await tempDir();
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  return policyFromFile(await writeConfig(dir, baseConfig({ actions: { mbox: { type: 'mbox' }, relay: { type: 'relay' } }, ...extra })));
}

/** Where a recipient goes, in short: `mbox:max`, `relay:x@y`, or the reply code and enhanced status. */
function where(d: RecipientDecision): string[] | string {
  if (d.kind === 'reject') return `${d.reply.code} ${d.reply.status}`;
  return d.route.map((r) => (r.kind === 'relay' ? `relay:${r.address}` : `${r.action}:${r.mailbox}`));
}

const seed = () => policyFromFile(join(ROOT, 'examples/seed/relay.yaml'));

test('Listing 2, line by line (the seed config: virtusers for example.org, aliases for the postmaster)', async () => {
  const r = await seed();
  // max.muster@example.org   max
  assert.deepEqual(where(await r('max.muster@example.org')), ['mbox:max']);
  // max@example.org          max.muster@example.org   (a chain of two)
  assert.deepEqual(where(await r('max@example.org')), ['mbox:max']);
  // mm@example.org           max@example.org          (a chain of three)
  const mm = await r('mm@example.org');
  assert.deepEqual(where(mm), ['mbox:max']);
  assert.equal(mm.kind === 'accept' && mm.route[0].kind === 'local' && mm.route[0].address, 'max.muster@example.org', 'Delivered-To is the last address of the chain');
  // moritz@example.org       moritz@example.net: example.net is one of Listing 3's domains in the combined
  // seed, where users maps moritz to moritz@example.com, which maps to itself: mailbox moritz
  assert.deepEqual(where(await r('moritz@example.org')), ['mbox:moritz']);
  // catchall@example.org     postmaster               (a name: resolved through the local aliases, postmaster: max)
  assert.deepEqual(where(await r('catchall@example.org')), ['mbox:max']);
  // @example.org             catchall@example.org     (every other address of the domain)
  assert.deepEqual(where(await r('whoever@example.org')), ['mbox:max']);
  assert.deepEqual(where(await r('postmaster@example.org')), ['mbox:max']);
});

test('Listing 3, line by line: users applied to every domain in <domains>, wildcards included', async () => {
  const r = await seed();
  // max     max   (maps to itself: the mailbox max)
  for (const d of ['example.net', 'example.com', 'mail.example.com', 'a.b.example.net', 'sub.example.org']) {
    assert.deepEqual(where(await r(`max@${d}`)), ['mbox:max'], d);
  }
  // moritz  moritz@example.com
  for (const d of ['example.net', 'example.com', 'shop.example.net']) assert.deepEqual(where(await r(`moritz@${d}`)), ['mbox:moritz'], d);
  // a domain the list does not cover is not ours: relaying denied, not "unknown user"
  for (const d of ['example.co.uk', 'notexample.com', 'example.com.evil.test']) assert.deepEqual(where(await r(`max@${d}`)), '550 5.7.1', d);
  // no entry and no catch-all: unknown at RCPT time, no backscatter later; postmaster always accepted
  assert.deepEqual(where(await r('nobody@example.net')), '550 5.1.1');
  assert.deepEqual(where(await r('postmaster@shop.example.com')), ['mbox:max']);
});

test('the seed\'s local rule: local aliases for mail from loopback; relaying only for tag remote with AUTH', async () => {
  const r = await seed();
  assert.deepEqual(where(await r('root@localhost', loopback)), ['mbox:max']);
  assert.deepEqual(where(await r('abuse@post.example.org', loopback)), ['mbox:max']);
  assert.deepEqual(where(await r('postmaster', loopback)), ['mbox:max'], 'RFC 5321 <postmaster> without a domain');
  assert.deepEqual(where(await r('max@local.example.org', loopback)), ['mbox:max'], 'a mailbox a table names');
  assert.deepEqual(where(await r('stranger@localhost', loopback)), '550 5.1.1');
  assert.deepEqual(where(await r('root@localhost')), '550 5.7.1', 'for local is from local only');
  assert.deepEqual(where(await r('friend@elsewhere.test')), '550 5.7.1', 'no open relay');
  assert.deepEqual(where(await r('friend@elsewhere.test', { ...outside, tag: 'remote' })), '550 5.7.1', 'tag remote without AUTH');
  assert.deepEqual(where(await r('friend@elsewhere.test', { ...outside, tag: 'remote', user: 'max' })), ['relay:friend@elsewhere.test']);
  assert.deepEqual(where(await r('friend@elsewhere.test', loopback)), '550 5.7.1', 'loopback is not trusted to relay (no `from local for any relay`)');
});

test('case: domains and (by default) local parts compare case-insensitively; a caseSensitive table keeps case', async () => {
  const r = await seed();
  assert.deepEqual(where(await r('Max.Muster@EXAMPLE.org')), ['mbox:max']);
  assert.deepEqual(where(await r('MAX@Mail.Example.COM')), ['mbox:max']);
  assert.deepEqual(where(await r('"max"@example.net')), ['mbox:max'], 'a quoted local part that needs no quotes is the same');
  assert.deepEqual(where(await r('"max muster"@example.net')), '550 5.1.1');
  const cs = await policyOf({
    tables: { v: { type: 'virtual', caseSensitive: true, entries: { 'Ann@example.test': 'ann', 'ann@example.test': 'other' } } },
    rules: [{ from: 'any', for: { domain: 'example.test' }, virtual: 'v', action: 'mbox' }],
  });
  assert.deepEqual(where(await cs('Ann@EXAMPLE.TEST')), ['mbox:ann']);
  assert.deepEqual(where(await cs('ann@example.test')), ['mbox:other']);
  assert.deepEqual(where(await cs('ANN@example.test')), '550 5.1.1');
});

test('forwarding: external targets relay onward even for anonymous senders; several targets; duplicates collapse', async () => {
  const r = await policyOf({
    tables: {
      v: {
        type: 'virtual',
        entries: { 'team@example.test': 'ann, bob@example.test, carol@elsewhere.test', 'bob@example.test': 'bob, ann', 'dup@example.test': 'ann@example.test, ann' , 'ann@example.test': 'ann' },
      },
    },
    rules: [{ from: 'any', for: { domain: 'example.test' }, virtual: 'v', action: 'mbox' }],
  });
  assert.deepEqual(where(await r('team@example.test')), ['mbox:ann', 'mbox:bob', 'relay:carol@elsewhere.test']);
  assert.deepEqual(where(await r('dup@example.test')), ['mbox:ann']);
});

test('loops end in a clear 550 5.4.6; a loop beside a real target delivers the real one; the hop limit ends chains', async () => {
  const entries: Record<string, string> = { 'a@example.test': 'b@example.test', 'b@example.test': 'a@example.test', 'c@example.test': 'd@example.test, keep', 'd@example.test': 'c@example.test', 'self@example.test': 'self@example.test' };
  for (let i = 0; i < 20; i++) entries[`hop${i}@example.test`] = `hop${i + 1}@example.test`;
  entries['hop20@example.test'] = 'end';
  const r = await policyOf({
    tables: { v: { type: 'virtual', entries }, l: { type: 'aliases', entries: { x: 'y', y: 'x' } } },
    rules: [
      { from: 'any', for: { domain: 'example.test' }, virtual: 'v', action: 'mbox' },
      { from: 'any', for: { domain: 'alias.test' }, alias: 'l', action: 'mbox' },
    ],
  });
  assert.deepEqual(where(await r('a@example.test')), '550 5.4.6');
  assert.deepEqual(where(await r('c@example.test')), ['mbox:keep']);
  assert.deepEqual(where(await r('self@example.test')), ['mbox:self'], 'an address that maps to itself is final: its rule delivers it');
  assert.deepEqual(where(await r('hop15@example.test')), ['mbox:end']);
  assert.deepEqual(where(await r('hop0@example.test')), '550 5.4.6', 'over resolution.maxDepth (10)');
  assert.deepEqual(where(await r('x@alias.test')), '550 5.4.6', 'a name loop in an aliases table');
});

test('catch-all vs known users: exact entries win over @domain; without a catch-all unknown users get 550 5.1.1', async () => {
  const r = await policyOf({
    tables: {
      v: { type: 'virtual', entries: { 'ann@a.test': 'ann', '@a.test': 'inbox' } },
      w: { type: 'virtual', entries: { 'ann@b.test': 'ann' } },
    },
    rules: [
      { from: 'any', for: { domain: 'a.test' }, virtual: 'v', action: 'mbox' },
      { from: 'any', for: { domain: 'b.test' }, virtual: 'w', action: 'mbox' },
    ],
  });
  assert.deepEqual(where(await r('ann@a.test')), ['mbox:ann']);
  assert.deepEqual(where(await r('zed@a.test')), ['mbox:inbox']);
  assert.deepEqual(where(await r('zed@b.test')), '550 5.1.1');
  assert.deepEqual(where(await r('postmaster@b.test')), ['mbox:postmaster'], 'postmaster without aliases: the mailbox postmaster');
});

test('sub-addressing is off by default, and resolves user+tag@ to user@ when a delimiter is set', async () => {
  const cfg = {
    tables: { v: { type: 'virtual', entries: { 'ann@example.test': 'ann', 'ann+exact@example.test': 'special' } } },
    rules: [{ from: 'any', for: { domain: 'example.test' }, virtual: 'v', action: 'mbox' }],
  };
  const off = await policyOf(cfg);
  assert.deepEqual(where(await off('ann+news@example.test')), '550 5.1.1');
  const on = await policyOf({ ...cfg, resolution: { subaddressDelimiter: '+' } });
  const d = await on('ann+news@example.test');
  assert.deepEqual(where(d), ['mbox:ann']);
  assert.equal(d.kind === 'accept' && d.route[0].kind === 'local' && d.route[0].address, 'ann+news@example.test');
  assert.deepEqual(where(await on('ann+exact@example.test')), ['mbox:special'], 'an exact entry wins');
});

test('reject rules and error: targets give their own reply; rules match on networks, tags and users', async () => {
  const r = await policyOf({
    tables: { v: { type: 'virtual', entries: { 'gone@example.test': 'error:550 5.1.6 Ann has left', 'ann@example.test': 'ann' } } },
    rules: [
      { from: 'any', for: { domain: 'spam.test' }, reject: { code: 554, status: '5.7.1', text: 'Not here' } },
      { from: { networks: ['10.0.0.0/8'] }, for: 'any', action: 'relay' },
      { from: 'any', auth: ['ops'], for: 'any', action: 'relay' },
      { from: 'any', for: { domain: 'example.test' }, virtual: 'v', action: 'mbox' },
    ],
  });
  assert.deepEqual(where(await r('x@spam.test')), '554 5.7.1');
  assert.deepEqual(where(await r('gone@example.test')), '550 5.1.6');
  assert.deepEqual(where(await r('out@far.test', { ...outside, clientAddress: '10.1.2.3' })), ['relay:out@far.test']);
  assert.deepEqual(where(await r('out@far.test', { ...outside, clientAddress: '::ffff:10.1.2.3' })), ['relay:out@far.test']);
  assert.deepEqual(where(await r('out@far.test', { ...outside, user: 'ops' })), ['relay:out@far.test']);
  assert.deepEqual(where(await r('out@far.test', { ...outside, user: 'ann' })), '550 5.7.1');
});

test('a target reached through a table is matched as mail from the relay itself: a reject rule stops a forward', async () => {
  const r = await policyOf({
    tables: { v: { type: 'virtual', entries: { 'fwd@example.test': 'x@blocked.test', 'ok@example.test': 'x@open.test' } } },
    rules: [
      { from: 'local', for: { domain: 'blocked.test' }, reject: { code: 550, status: '5.7.1', text: 'No forwarding there' } },
      { from: 'any', for: { domain: 'example.test' }, virtual: 'v', action: 'mbox' },
    ],
  });
  assert.deepEqual(where(await r('fwd@example.test')), '550 5.7.1');
  assert.deepEqual(where(await r('ok@example.test')), ['relay:x@open.test']);
});

test('an lmtp or maildir action gives routes of that kind, each naming its mailbox and the final address', async () => {
  const r = await policyOf({
    actions: { dovecot: { type: 'lmtp', socket: '/run/dovecot/lmtp' }, md: { type: 'maildir' } },
    tables: { v: { type: 'virtual', entries: { 'ann@a.test': 'ann', 'bob@b.test': 'bob' } } },
    rules: [
      { from: 'any', for: { domain: 'a.test' }, virtual: 'v', action: 'dovecot' },
      { from: 'any', for: { domain: 'b.test' }, virtual: 'v', action: 'md' },
    ],
  });
  assert.deepEqual(await r('ann@a.test'), { kind: 'accept', route: [{ kind: 'lmtp', mailbox: 'ann', action: 'dovecot', address: 'ann@a.test' }] });
  assert.deepEqual(await r('bob@b.test'), { kind: 'accept', route: [{ kind: 'local', mailbox: 'bob', action: 'md', address: 'bob@b.test' }] });
});

test('without rules the core policy stands: authenticated sessions relay, nobody else', async () => {
  const { dir } = await tempDir();
  const { config } = loadConfig(await writeConfig(dir, baseConfig()));
  assert.equal(buildPolicy(config, await loadTables(config)), undefined);
});
