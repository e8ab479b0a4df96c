// A mailbox that cannot be written defers and keeps the mail; nothing half-written stays behind, and
// the retry after the cause is gone delivers. Disk full on a 1 MiB tmpfs (as root, like the queue's own
// disk-full test), an immutable file or directory (chattr +i, which stops root too), and a real EACCES
// from a process running as nobody.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { run, startTestRelay, tempDir } from '../../../test/harness.ts';
import { injectMail, testMessage } from '../../../test/inject.ts';
import { flush, gone, localConfig, localRoute, maildirOf, mboxFile, pythonRead, tried, type Started } from '../../../test/local-delivery-kit.ts';

describe('relay/deliver/local: failures defer, nothing is lost', () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let t: Started;
  let mounted = false;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    await mkdir(join(dir, 'mail'));
    const m = await run('mount', ['-t', 'tmpfs', '-o', 'size=1m,mode=0700', 'tmpfs', join(dir, 'mail')]);
    assert.equal(m.code, 0, `mount tmpfs: ${m.stderr}`);
    mounted = true;
    t = await startTestRelay(dir, localConfig());
  });
  after(async () => {
    await t?.relay.stop();
    if (mounted) await run('umount', [join(dir, 'mail')]);
    await cleanup();
  });

  it('defers on a full disk, leaves mbox and Maildir as they were, and delivers once there is space', async () => {
    const first = await injectMail(t.relay, { from: 'a@example.net', to: ['max@example.org'], subject: 'small', routes: [localRoute('max')] });
    await gone(t, first);
    const before = await readFile(mboxFile(dir, 'max'));
    const filler = join(dir, 'mail', 'filler');
    await writeFile(filler, Buffer.alloc(700 * 1024, 'x'));
    const body = 'a line of a large message, long enough to fill the disk quickly............\r\n'.repeat(5000);
    const id = await injectMail(t.relay, {
      from: 'a@example.net',
      to: ['max@example.org', 'maxd@example.org'],
      message: testMessage('a@example.net', ['max@example.org'], 'large', body),
      routes: [localRoute('max'), localRoute('maxd', 'maildir')],
    });
    const states = await tried(t, id);
    for (const s of states) {
      assert.equal(s.status, 'pending');
      assert.match(s.lastError!, /^4\.3\.1 (mbox "max"|maildir "maxd"): no space left on device \(ENOSPC, write\)$/);
    }
    assert.deepEqual(await readFile(mboxFile(dir, 'max')), before, 'the mbox is back to its previous bytes');
    assert.deepEqual(await readdir(join(dir, 'mail', 'mbox')), ['max'], 'no lock left');
    for (const sub of ['tmp', 'new']) assert.deepEqual(await readdir(join(maildirOf(dir, 'maxd'), sub)), [], `maildir ${sub}/ empty`);
    await rm(filler);
    await flush(t, id);
    await gone(t, id);
    const mbox = await pythonRead('mbox', mboxFile(dir, 'max'));
    assert.deepEqual(mbox.map((m) => m.subject), ['small', 'large']);
    assert.ok(mbox[1].raw.endsWith('\n\n' + body.replace(/\r\n/g, '\n')));
    const maildir = await pythonRead('maildir', maildirOf(dir, 'maxd'));
    assert.deepEqual(maildir.map((m) => m.subject), ['large']);
  });

  it('keeps a delivered recipient delivered while another one waits on an unwritable mailbox', async () => {
    // chattr +i works on ext4, not on tmpfs: these mailboxes live in a second store on the test's disk
    const store = join(dir, 'store2');
    const frozen = join(store, 'mbox', 'frozen');
    await mkdir(join(store, 'mbox'), { recursive: true });
    await writeFile(frozen, '');
    await mkdir(join(store, 'maildir', 'frozend', 'tmp'), { recursive: true });
    t.relay.relay.snapshot.config.mailStore = store;
    try {
      for (const p of [frozen, join(store, 'maildir', 'frozend', 'tmp')]) assert.equal((await run('chattr', ['+i', p])).code, 0);
      const id = await injectMail(t.relay, {
        from: 'a@example.net',
        to: ['ok@example.org', 'frozen@example.org', 'frozend@example.org'],
        routes: [localRoute('ok'), localRoute('frozen'), localRoute('frozend', 'maildir')],
      });
      const states = await tried(t, id);
      assert.equal(states[0].status, 'delivered');
      assert.deepEqual(states.slice(1).map((s) => s.lastError), ['4.2.0 mbox "frozen": operation not permitted (EPERM, open)', '4.2.0 maildir "frozend": operation not permitted (EPERM, open)']);
      // the outcome is on disk, in the queue's state file
      const saved = JSON.parse(await readFile(join(dir, 'queue', 'state', `${id}.json`), 'utf8')) as { recipients: { status: string }[] };
      assert.deepEqual(saved.recipients.map((r) => r.status), ['delivered', 'pending', 'pending']);
      for (const p of [frozen, join(store, 'maildir', 'frozend', 'tmp')]) assert.equal((await run('chattr', ['-i', p])).code, 0);
      await flush(t, id);
      await gone(t, id);
      assert.equal((await pythonRead('mbox', frozen)).length, 1);
      assert.equal((await pythonRead('maildir', join(store, 'maildir', 'frozend'))).length, 1);
      assert.equal((await pythonRead('mbox', join(store, 'mbox', 'ok'))).length, 1, 'the delivered recipient got no second copy');
    } finally {
      await run('chattr', ['-i', frozen, join(store, 'maildir', 'frozend', 'tmp')]);
      t.relay.relay.snapshot.config.mailStore = join(dir, 'mail');
    }
  });

  it('defers on EACCES (a process running as nobody, a mail store it may not enter)', async () => {
    const script = `
      import { LocalAgent } from ${JSON.stringify(new URL('./agent.ts', import.meta.url).href)};
      import { Readable } from 'node:stream';
      // loaded as root, then nobody: the clone may sit where nobody cannot read (a 0700 home or mktemp dir)
      process.setgroups([]);
      process.setgid(65534);
      process.setuid(65534);
      const host = { snapshot: { config: { mailStore: process.argv[1], actions: { mbox: { type: 'mbox' }, maildir: { type: 'maildir' } } } }, log: { child: () => ({ debug() {} }) } };
      const route = (mailbox, action) => ({ rcpt: 'x@example.org', route: { kind: 'local', mailbox, action, address: 'x@example.org' } });
      const mail = { envelope: { id: 'q', from: 'a@example.net', recipients: [route('x', 'mbox'), route('y', 'maildir')] } };
      const out = await new LocalAgent(host).deliver(mail, [0, 1], () => Readable.from([Buffer.from('Subject: x\\r\\n\\r\\nx\\r\\n')]));
      console.log(JSON.stringify(out));
    `;
    const store = join(dir, 'store3');
    await mkdir(store, { mode: 0o700 });
    const child = spawn(process.execPath, ['--input-type=module', '-e', script, store]);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d));
    child.stderr.on('data', (d: Buffer) => (out += d));
    const code = await new Promise((r) => child.on('exit', r));
    assert.equal(code, 0, out);
    assert.deepEqual(JSON.parse(out), [
      { index: 0, result: 'deferred', detail: '4.2.0 mbox "x": permission denied (EACCES, mkdir)' },
      { index: 1, result: 'deferred', detail: '4.2.0 maildir "y": permission denied (EACCES, mkdir)' },
    ]);
    assert.deepEqual(await readdir(store), []);
    assert.equal((await stat(store)).mode & 0o777, 0o700);
  });
});
