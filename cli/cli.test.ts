// The kubemta program as a user runs it: exit codes and output of check, encrypt and queue.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { writeFile } from 'node:fs/promises';
import { baseConfig, exited, KUBEMTA, run, spawnRelay, swaks, tempDir, writeConfig } from '../test/harness.ts';
import { verifyPassword } from '../relay/auth/hash.ts';

describe('cli', () => {
  it('check: exit 0 on the seed example, exit 1 listing every problem with its path', async () => {
    const ok = await run(KUBEMTA, ['check', '--config', 'examples/seed/relay.yaml']);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /ok \(3 listener/);
    const { dir, cleanup } = await tempDir();
    const f = join(dir, 'bad.yaml');
    await writeFile(f, 'pki: [{name: post, cert: a, key: b}]\nlisteners:\n  - {port: 25, tls: starttls, pki: post}\n  - {port: 587, tls: starttls, pki: mail}\n  - {port: 26, auth: remote}\n');
    const bad = await run(KUBEMTA, ['check', '--config', f]);
    assert.equal(bad.code, 1);
    assert.match(bad.stdout, /^listeners\[1\]\.pki: no pki named "mail"$/m);
    assert.match(bad.stdout, /^listeners\[2\]\.auth: no table named "remote"$/m);
    await cleanup();
  });

  it('check runs the validation the relay runs at start: a hostname with CR/LF or an unreadable certificate fails both', async () => {
    const { dir, cleanup } = await tempDir();
    try {
      const crlf = await writeConfig(dir, baseConfig({ hostname: 'mail.example.org\r\nX-Injected: 1' }), 'crlf.yaml');
      const checked = await run(KUBEMTA, ['check', '--config', crlf]);
      assert.equal(checked.code, 1, checked.stdout);
      assert.match(checked.stdout, /^hostname: must match pattern/m);
      const started = await run(KUBEMTA, ['relay', '--config', crlf], { timeoutMs: 20000 });
      assert.notEqual(started.code, 0, 'the relay refuses the same config');
      assert.match(started.stdout + started.stderr, /hostname: must match pattern/);
      const listenerName = await writeConfig(dir, baseConfig({ listeners: [{ address: '127.0.0.1', port: 0, tls: 'none', hostname: 'a b' }] }), 'lname.yaml');
      assert.match((await run(KUBEMTA, ['check', '--config', listenerName])).stdout, /^listeners\[0\]\.hostname: must match pattern/m);
      // a certificate the relay could not load at start: check used to say ok
      await writeFile(join(dir, 'broken.crt'), 'not a certificate\n');
      await writeFile(join(dir, 'broken.key'), 'not a key\n');
      const cert = await writeConfig(dir, baseConfig({ pki: [{ name: 'p', cert: 'broken.crt', key: 'broken.key' }] }), 'cert.yaml');
      const certChecked = await run(KUBEMTA, ['check', '--config', cert]);
      assert.equal(certChecked.code, 1, certChecked.stdout);
      const certStarted = await run(KUBEMTA, ['relay', '--config', cert], { timeoutMs: 20000 });
      assert.notEqual(certStarted.code, 0);
      assert.doesNotMatch(certStarted.stdout, /relay ready/);
    } finally {
      await cleanup();
    }
  });

  it('encrypt: reads the password from stdin and prints a bcrypt hash that verifies', async () => {
    const r = await run(KUBEMTA, ['encrypt'], { input: 'hunter2\n' });
    assert.equal(r.code, 0, r.stderr);
    const hash = r.stdout.trim();
    assert.match(hash, /^\$2[aby]\$10\$/);
    assert.equal(await verifyPassword('hunter2', hash), true);
    assert.equal(await verifyPassword('hunter3', hash), false);
  });

  it('queue: ls, show, hold, release and rm work on a running relay and on a stopped one', async () => {
    const { dir, cleanup } = await tempDir();
    const hash = (await run(KUBEMTA, ['encrypt', 'pw'])).stdout.trim();
    const file = await writeConfig(dir, baseConfig({
      tables: { remote: { type: 'credentials', entries: { max: hash } } },
      listeners: [{ name: 'smtps', address: '127.0.0.1', port: 0, tls: 'implicit', pki: 'mail', auth: 'remote' }],
      outbound: { resolver: { servers: ['127.0.0.1:9'] } },
      log: { level: 'info' },
    }));
    const r = await spawnRelay(file);
    try {
      const sent = await swaks(r.ports.smtps, ['--tlsc', '--auth-user', 'max', '--auth-password', 'pw', '--from', 'max@example.org', '--to', 'x@example.net']);
      const id = /queued as ([0-9a-f]{20})/.exec(sent.transcript)![1];
      const q = (...a: string[]) => run(KUBEMTA, ['queue', ...a, '--config', file]);
      assert.match((await q('ls')).stdout, new RegExp(`${id} .* max@example\\.org -> x@example\\.net \\[relay x@example\\.net\\]`));
      assert.equal((await q('hold', id)).stdout.trim(), `held ${id}`);
      assert.equal(JSON.parse((await q('show', id, '--json')).stdout).hold, true);
      assert.equal((await q('release', id)).stdout.trim(), `released ${id}`);
      assert.equal((await q('show', 'ffffffffffffffffffff')).code, 1);
      r.child.kill('SIGTERM');
      await exited(r.child);
      // offline: the same commands on the files
      const rows = JSON.parse((await q('ls', '--json')).stdout) as { id: string }[];
      assert.deepEqual(rows.map((m) => m.id), [id]);
      assert.equal((await q('rm', id)).stdout.trim(), `removed ${id}`);
      assert.match((await q('ls')).stdout, /queue is empty/);
    } finally {
      if (r.child.exitCode === null) r.child.kill('SIGKILL');
      await cleanup();
    }
  });
});
