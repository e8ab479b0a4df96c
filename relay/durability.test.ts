// The queue's promise through the whole relay process: a mail answered 250 survives kill -9, and a full
// disk gives 452 4.3.1 with nothing half-queued.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, readdir } from 'node:fs/promises';
import { join } from 'node:path';
import type { ChildProcess } from 'node:child_process';
import nodemailer from 'nodemailer';
import { baseConfig, exited, run, spawnRelay, killChild, swaks, tempDir, writeConfig, startTestRelay } from '../test/harness.ts';
import { hashPassword } from './auth/hash.ts';

async function submissionConfig(extra: Record<string, unknown> = {}) {
  return baseConfig({
    tables: { remote: { type: 'credentials', entries: { max: await hashPassword('pw', 4) } } },
    listeners: [{ name: 'smtps', address: '127.0.0.1', port: 0, tls: 'implicit', pki: 'mail', auth: 'remote' }],
    log: { level: 'info' },
    ...extra,
  });
}

describe('relay durability', () => {
  it('keeps every mail answered 250 across kill -9 in the middle of a burst (20 concurrent senders)', async (t) => {
    const { dir, cleanup } = await tempDir();
    const started: ChildProcess[] = [];
    t.after(async () => {
      for (const c of started) await killChild(c);
      await cleanup();
    });
    const file = await writeConfig(dir, await submissionConfig());
    const first = await spawnRelay(file);
    started.push(first.child);
    const port = first.ports.smtps;
    const acknowledged = new Set<string>();
    let failures = 0;
    const errors: string[] = [];
    let stop = false;
    const sender = async () => {
      const t = nodemailer.createTransport({ host: '127.0.0.1', port, secure: true, auth: { user: 'max', pass: 'pw' }, tls: { rejectUnauthorized: false }, pool: false });
      while (!stop) {
        try {
          const info = await t.sendMail({ from: 'max@example.org', to: 'x@example.net', subject: 'burst', text: 'x'.repeat(2000) });
          const id = /queued as ([0-9a-f]{20})/.exec(info.response)?.[1];
          if (id) acknowledged.add(id);
        } catch (err) {
          failures++;
          if (errors.length < 5) errors.push((err as Error).message);
          if (stop) break;
        }
      }
    };
    const senders = Array.from({ length: 20 }, sender);
    // bounded, so that a relay that stops accepting fails the test with the reason instead of hanging it
    const deadline = Date.now() + 60_000;
    while (acknowledged.size < 150 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    if (acknowledged.size < 150) {
      stop = true;
      first.child.kill('SIGKILL');
      assert.fail(`only ${acknowledged.size} mails acknowledged in 60 s; ${failures} client errors, first: ${errors.join(' | ')}; relay log tail: ${first.log().slice(-2000)}`);
    }
    first.child.kill('SIGKILL');
    stop = true;
    await Promise.all(senders);
    await exited(first.child);
    const second = await spawnRelay(file);
    started.push(second.child);
    const ls = await run(join(process.cwd(), 'bin', 'kubemta'), ['queue', 'ls', '--json', '--config', file]);
    second.child.kill('SIGTERM');
    const rows = JSON.parse(ls.stdout) as { id: string }[];
    const inQueue = new Set(rows.map((r) => r.id));
    const lost = [...acknowledged].filter((id) => !inQueue.has(id));
    assert.ok(acknowledged.size >= 150, `acknowledged ${acknowledged.size}`);
    assert.deepEqual(lost, [], `lost ${lost.length} of ${acknowledged.size} acknowledged mails`);
    assert.deepEqual(await readdir(join(dir, 'queue', 'incoming')), []);
    const recovered = /"msg":"queue recovered"/.test(second.log()) ? JSON.parse(second.log().split('\n').find((l) => l.includes('queue recovered'))!) : {};
    console.log(`kill -9 burst: acknowledged ${acknowledged.size}, in queue after restart ${inQueue.size}, lost 0, incomplete removed ${recovered.removedIncomplete}, client errors ${failures}`);
    await exited(second.child);
  });

  it('answers 452 4.3.1 when the queue filesystem is full, and leaves no partial file', async () => {
    const { dir, cleanup } = await tempDir();
    const q = join(dir, 'queue');
    await mkdir(q);
    const m = await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', q]);
    assert.equal(m.code, 0, `mount tmpfs: ${m.stderr}`);
    // stopped before the unmount, even when an assertion fails: a running relay keeps the mount busy
    const relays: { stop(): Promise<void> }[] = [];
    try {
      const t = await startTestRelay(dir, await submissionConfig({ queue: { dir: 'queue', minFreeBytes: 0 }, log: { level: 'silent' } }));
      relays.push(t.relay);
      const big = join(dir, 'big.txt');
      await run('sh', ['-c', `head -c 1500000 /dev/zero | tr '\\0' 'a' | fold -w 76 > ${big}`]);
      const r = await swaks(t.port('smtps'), ['--tlsc', '--auth-user', 'max', '--auth-password', 'pw', '--from', 'max@example.org', '--to', 'x@example.net', '--body', `@${big}`]);
      assert.match(r.transcript, /452 4\.3\.1 Insufficient system storage/);
      assert.deepEqual(await readdir(join(q, 'incoming')), []);
      assert.deepEqual(await readdir(join(q, 'messages')), []);
      // a small mail still fits: the relay recovered from the error
      const ok = await swaks(t.port('smtps'), ['--tlsc', '--auth-user', 'max', '--auth-password', 'pw', '--from', 'max@example.org', '--to', 'x@example.net']);
      assert.match(ok.transcript, /250 2\.0\.0 Ok: queued as/);
      await t.relay.stop();
      // below the free-space floor the relay refuses at MAIL FROM, before any data is sent
      const t2 = await startTestRelay(dir, await submissionConfig({ queue: { dir: 'queue', minFreeBytes: 64 * 1024 * 1024 }, log: { level: 'silent' } }));
      relays.push(t2.relay);
      const low = await swaks(t2.port('smtps'), ['--tlsc', '--auth-user', 'max', '--auth-password', 'pw', '--from', 'max@example.org', '--to', 'x@example.net']);
      assert.match(low.transcript, /MAIL FROM[\s\S]*452 4\.3\.1/);
      await t2.relay.stop();
    } finally {
      await Promise.allSettled(relays.map((r) => r.stop()));
      const u = await run('umount', [q]);
      if (u.code !== 0) await run('umount', ['-l', q]);
      await cleanup();
    }
  });
});
