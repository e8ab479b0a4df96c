import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError, loadConfig } from './load.ts';
import { parseSetPath } from './set.ts';
import { tempDir } from '../../test/harness.ts';

async function problems(yamlText: string, sets: string[] = []): Promise<string[]> {
  const { dir, cleanup } = await tempDir();
  try {
    const f = join(dir, 'c.yaml');
    await writeFile(f, yamlText);
    loadConfig(f, sets);
    return [];
  } catch (err) {
    if (err instanceof ConfigError) return err.problems;
    throw err;
  } finally {
    await cleanup();
  }
}

describe('relay/config', () => {
  it('fills every default and resolves relative paths against the config file', async () => {
    const { dir, cleanup } = await tempDir();
    const f = join(dir, 'c.yaml');
    await writeFile(f, 'listeners: [{port: 2525}]\npki: [{name: p, cert: certs/a.crt, key: /abs/a.key}]\n');
    const { config, watched } = loadConfig(f);
    assert.equal(config.queue.dir, join(dir, 'state/queue'));
    assert.equal(config.pki[0].cert, join(dir, 'certs/a.crt'));
    assert.equal(config.pki[0].key, '/abs/a.key');
    assert.deepEqual(watched, [join(dir, 'certs/a.crt'), '/abs/a.key']);
    assert.equal(config.queue.fsync, true);
    assert.equal(config.limits.maxMessageBytes, 35 * 1024 * 1024);
    assert.equal(config.listeners[0].tls, 'none');
    assert.equal(config.listeners[0].family, 'any');
    assert.ok(config.hostname);
    await cleanup();
  });

  it('reports unknown keys and bad values with their paths, all at once', async () => {
    const p = await problems('listeners:\n  - {port: 25, tls: sometimes, colour: red}\nqueue: {fsync: maybe}\nbogus: 1\n');
    assert.ok(p.includes('listeners[0].colour: unknown key'), p.join('\n'));
    assert.ok(p.includes('bogus: unknown key'), p.join('\n'));
    assert.ok(p.some((l) => l.startsWith('listeners[0].tls: must be one of "none", "starttls", "starttls-required", "implicit"')), p.join('\n'));
    assert.ok(p.some((l) => l.startsWith('queue.fsync: must be boolean')), p.join('\n'));
  });

  it('cross-checks references: a listener naming a missing pki, auth without TLS, a port used twice', async () => {
    const p = await problems(`
pki: [{name: post, cert: a, key: b}]
tables: {remote: {type: credentials, entries: {}}, aliases: {type: aliases, entries: {}}}
listeners:
  - {port: 25, tls: starttls, pki: post}
  - {port: 587, tls: starttls, pki: mail}
  - {port: 26, auth: remote}
  - {port: 25, address: 127.0.0.1}
  - {port: 27, tls: starttls, auth: aliases}
  - {port: 28, tls: starttls, auth: nosuch}
`);
    assert.ok(p.includes('listeners[1].pki: no pki named "mail"'), p.join('\n'));
    assert.ok(p.some((l) => l.startsWith('listeners[2].auth: AUTH is only offered after TLS')), p.join('\n'));
    assert.ok(p.includes('listeners[3].port: port 25 is already used by listeners[0]'), p.join('\n'));
    assert.ok(p.includes('listeners[4].auth: table "aliases" is of type aliases, not credentials'), p.join('\n'));
    assert.ok(p.includes('listeners[5].auth: no table named "nosuch"'), p.join('\n'));
  });

  it('--set overrides any value, typed like YAML, and reports malformed paths', async () => {
    const { dir, cleanup } = await tempDir();
    const f = join(dir, 'c.yaml');
    await writeFile(f, 'listeners: [{port: 2525}]\n');
    const { config } = loadConfig(f, ['listeners[0].port=2600', 'queue.fsync=false', 'queue.dir=/var/spool/q', 'hostname=mx.test']);
    assert.equal(config.listeners[0].port, 2600);
    assert.equal(config.queue.fsync, false);
    assert.equal(config.queue.dir, '/var/spool/q');
    assert.equal(config.hostname, 'mx.test');
    await cleanup();
    assert.deepEqual(await problems('listeners: [{port: 1}]\n', ['listeners[.port=3']), ['--set listeners[.port=3: malformed path "listeners[.port"']);
    assert.deepEqual(parseSetPath('a.b[2].c'), ['a', 'b', 2, 'c']);
  });

  it('rejects a YAML syntax error with its position', async () => {
    const p = await problems('listeners: [{port: 25\n');
    assert.equal(p.length, 1);
    assert.match(p[0], /line \d+|\(\d+:\d+\)/);
  });
});
