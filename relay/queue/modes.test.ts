// File modes whatever the umask: a relay started under umask 000 still keeps its queue (directories 0700,
// mails and state 0600), its mail store (0700/0600) and its control socket (0600) to its own user.
// Driven with swaks (one mail to a mailbox, one relayed and left queued) and the kubemta CLI.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readdir, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { baseConfig, killChild, KUBEMTA, run, spawnRelay, swaks, tempDir, writeConfig } from '../../test/harness.ts';
import { until } from '../../test/until.ts';

const mode = async (path: string) => (await stat(path)).mode & 0o777;
const octal = (m: number) => m.toString(8).padStart(4, '0');

describe('queue, mail store and control socket modes under umask 000', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let child: ChildProcess | undefined;
  let port: number;
  let file: string;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    file = await writeConfig(
      dir,
      baseConfig({
        log: { level: 'info' },
        tables: { v: { type: 'virtual', entries: { 'ann@example.test': 'ann' } } },
        actions: { mbox: { type: 'mbox' }, relay: { type: 'relay' } },
        mailStore: 'mail',
        rules: [
          { from: 'any', for: { domain: 'example.test' }, virtual: 'v', action: 'mbox' },
          { from: 'local', for: 'any', action: 'relay' },
        ],
      }),
    );
    // the child inherits the umask it is spawned with
    const previous = process.umask(0);
    try {
      const r = await spawnRelay(file);
      child = r.child;
      port = r.ports.plain;
    } finally {
      process.umask(previous);
    }
  });
  after(async () => {
    await killChild(child);
    await cleanup();
  });

  it('creates queue directories 0700, queued mails and their state 0600, the control socket 0600', async () => {
    const q = join(dir, 'queue');
    const r = await swaks(port, ['--from', 's@elsewhere.test', '--to', 'friend@example.net']);
    assert.match(r.transcript, /250 2\.0\.0 Ok: queued as/);
    const found: string[] = [];
    for (const d of ['queue', 'queue/incoming', 'queue/messages', 'queue/state', 'queue/corrupt']) {
      found.push(`${d} ${octal(await mode(join(dir, d)))}`);
    }
    const [id] = await readdir(join(q, 'messages'));
    found.push(`messages/<id> ${octal(await mode(join(q, 'messages', id)))}`);
    // the relayed copy is deferred (no DNS here): its state file is written then
    // its <id>.json, not the <id>.json.tmp it is written as and renamed from (gone by the stat)
    const st = await until('a state file', async () => (await readdir(join(q, 'state'))).find((n) => n.endsWith('.json')), 10000);
    found.push(`state/<id>.json ${octal(await mode(join(q, 'state', st)))}`);
    const sock = await stat(join(q, 'control.sock'));
    assert.ok(sock.isSocket());
    found.push(`control.sock ${octal(sock.mode & 0o777)}`);
    assert.deepEqual(found, [
      'queue 0700',
      'queue/incoming 0700',
      'queue/messages 0700',
      'queue/state 0700',
      'queue/corrupt 0700',
      'messages/<id> 0600',
      'state/<id>.json 0600',
      'control.sock 0600',
    ]);
    // and the relay's own user still reaches the relay through it
    const ls = await run(KUBEMTA, ['queue', 'ls', '--json', '--config', file]);
    assert.equal(ls.code, 0, ls.stderr);
    assert.ok((JSON.parse(ls.stdout) as { id: string }[]).some((m) => m.id === id));
  });

  it('creates the mail store 0700 and mailboxes 0600', async () => {
    const r = await swaks(port, ['--from', 's@elsewhere.test', '--to', 'ann@example.test']);
    assert.match(r.transcript, /250 2\.0\.0 Ok: queued as/);
    const mbox = join(dir, 'mail', 'mbox', 'ann');
    await until('the mbox', async () => (await stat(mbox).catch(() => undefined))?.size !== undefined, 10000);
    assert.deepEqual(
      [octal(await mode(join(dir, 'mail'))), octal(await mode(join(dir, 'mail', 'mbox'))), octal(await mode(mbox))],
      ['0700', '0700', '0600'],
    );
  });
});
