// Table files in the formats OpenSMTPD users keep (aliases(5), makemap sources, domain lists) and inline
// tables, loaded as the relay loads them; every bad line is refused with its file and line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { loadConfig } from '../config/load.ts';
import { baseConfig, tempDir, writeConfig } from '../../test/harness.ts';
import { loadTables, TableError } from './tables.ts';

async function load(tables: Record<string, unknown>, files: Record<string, string>) {
  const { dir } = await tempDir();
  for (const [name, text] of Object.entries(files)) await writeFile(join(dir, name), text);
  const { config } = loadConfig(await writeConfig(dir, baseConfig({ tables })));
  return { tables: await loadTables(config), dir };
}

test('aliases(5) files: colon or blank separators, continuation lines, comments, several targets', async () => {
  const { tables } = await load({ a: { type: 'aliases', file: 'aliases' } }, {
    aliases: [
      '# system aliases',
      'postmaster: root',
      'root:\tmax, ops@example.test   # trailing comment',
      'team: ann,',
      '  bob,',
      '\tcarol',
      'tabbed\tdave',
      '',
      'Mixed.Case: eve',
    ].join('\n'),
  });
  const a = tables.mappings.get('a')!;
  assert.deepEqual(a.get('postmaster'), [{ kind: 'user', name: 'root' }]);
  assert.deepEqual(a.get('root'), [{ kind: 'user', name: 'max' }, { kind: 'address', address: 'ops@example.test' }]);
  assert.deepEqual(a.get('team')?.map((t) => t.kind === 'user' && t.name), ['ann', 'bob', 'carol']);
  assert.deepEqual(a.get('tabbed'), [{ kind: 'user', name: 'dave' }]);
  assert.deepEqual(a.get('MIXED.case'), [{ kind: 'user', name: 'eve' }]);
  assert.equal(a.size, 5);
});

test('virtual maps (Listing 2 format): full addresses, @domain catch-alls, bare local parts; the last line for a key wins', async () => {
  const { tables } = await load({ v: { type: 'virtual', file: 'virt' } }, {
    virt: 'max@Example.ORG   max.muster@example.org\n@example.org catchall@example.org\nmax max\nmax other\n',
  });
  const v = tables.mappings.get('v')!;
  assert.deepEqual(v.get('MAX@example.org'), [{ kind: 'address', address: 'max.muster@example.org' }]);
  assert.deepEqual(v.get('@EXAMPLE.org'), [{ kind: 'address', address: 'catchall@example.org' }]);
  assert.deepEqual(v.get('max'), [{ kind: 'user', name: 'other' }]);
});

test('a table kept in several files (sharded Secrets) reads them in order', async () => {
  const { tables } = await load({ v: { type: 'virtual', files: ['v0', 'v1'] } }, { v0: 'a@x.test a\nb@x.test b\n', v1: 'c@x.test c\nb@x.test b2\n' });
  const v = tables.mappings.get('v')!;
  assert.equal(v.size, 3);
  assert.deepEqual(v.get('b@x.test'), [{ kind: 'user', name: 'b2' }]);
});

test('domain lists with wildcards, network lists, inline entries', async () => {
  const { tables } = await load(
    {
      d: { type: 'domains', file: 'domains' },
      n: { type: 'networks', entries: ['10.0.0.0/8', '2001:db8::/32'] },
      i: { type: 'virtual', entries: { 'x@y.test': ['a', 'b@c.test'] } },
    },
    { domains: '# Listing 3\nexample.org\n*.example.org\n' },
  );
  assert.ok(tables.domains.get('d')!.has('mail.example.org'));
  assert.ok(!tables.domains.get('d')!.has('example.net'));
  assert.ok(tables.networks.get('n')!.has('10.9.8.7'));
  assert.ok(tables.networks.get('n')!.has('2001:db8::1'));
  assert.deepEqual(tables.mappings.get('i')!.get('x@y.test'), [{ kind: 'user', name: 'a' }, { kind: 'address', address: 'b@c.test' }]);
});

test('what kubemta cannot do is refused with the file and line, never dropped', async () => {
  const cases: [string, string, RegExp][] = [
    ['aliases', 'ok: max\nbad: |/usr/bin/procmail\n', /aliases:2: "\|\/usr\/bin\/procmail": delivery to a command/],
    ['aliases', 'bad: /var/mail/bad\n', /aliases:1: .*delivery to a file/],
    ['aliases', 'bad: :include:/etc/list\n', /aliases:1: .*:include:/],
    ['aliases', 'max@example.org: max\n', /aliases:1: .*use a virtual table/],
    ['aliases', 'evil: ../../etc/passwd\n', /aliases:1: .*not a mailbox name/],
    ['virtual', 'lonely@example.org\n', /virtual:1: "lonely@example.org" has no target/],
    ['virtual', 'x@example.org @example.org\n', /virtual:1: .*cannot be a catch-all/],
    ['domains', 'example.org\nexa mple.org\n', /domains:2: "exa mple.org": a domains table holds one entry per line/],
    ['domains', 'example.org\n.bad\n', /domains:2: not a domain/],
    ['networks', '10.0.0.0/8\n10.0.0.0/33\n', /networks:2: "10.0.0.0\/33" is not an address or CIDR/],
  ];
  for (const [type, text, re] of cases) {
    await assert.rejects(load({ t: { type, file: type } }, { [type]: text }), (err: Error) => err instanceof TableError && re.test(err.message), text);
  }
});

test('a 100,000-entry virtual table loads and answers (bench/resolution.ts measures how fast)', async () => {
  const lines: string[] = [];
  for (let i = 0; i < 100_000; i++) lines.push(`user${i}@example.org\tmbox${i % 500}`);
  const { tables } = await load({ v: { type: 'virtual', file: 'big' } }, { big: lines.join('\n') + '\n' });
  const v = tables.mappings.get('v')!;
  assert.equal(v.size, 100_000);
  assert.deepEqual(v.get('USER99999@example.org'), [{ kind: 'user', name: 'mbox499' }]);
});

test('every bad line of every table is reported at once (kubemta check lists them all)', async () => {
  await assert.rejects(
    load(
      { a: { type: 'aliases', file: 'aliases' }, d: { type: 'domains', file: 'domains' } },
      { aliases: 'ok: max\nx: |/bin/sh\ny: /tmp/file\nz: :include:/etc/list\n', domains: 'example.org\n..bad\n' },
    ),
    (err: Error) => {
      assert.ok(err instanceof TableError);
      assert.deepEqual(
        err.problems.map((p) => p.replace(/^tables\.(\w+): .*?:(\d+): .*$/, '$1:$2')),
        ['a:2', 'a:3', 'a:4', 'd:2'],
      );
      return true;
    },
  );
});
