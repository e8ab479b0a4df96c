// LMTP into a real Dovecot (dovecot-lmtpd, started by the test as a private instance under its temp
// directory): users from a passwd-file, Maildir storage, a 10-byte quota that answers 452 after DATA.
// Skipped, saying so, when Dovecot is not installed.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, utimes, writeFile } from 'node:fs/promises';
import { connect, createServer, type AddressInfo } from 'node:net';
import { join } from 'node:path';
import { startTestRelay, tempDir } from '../../../test/harness.ts';
import { injectMail } from '../../../test/inject.ts';
import { flush, gone, localConfig, pythonRead, tried, type Started } from '../../../test/local-delivery-kit.ts';
import { until } from '../../../test/until.ts';

const DOVECOT = '/usr/sbin/dovecot';
const NOBODY = 65534;

async function freePort(): Promise<number> {
  const srv = createServer().listen(0, '127.0.0.1');
  await new Promise((r) => srv.once('listening', r));
  const { port } = srv.address() as AddressInfo;
  await new Promise((r) => srv.close(r));
  return port;
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(port, '127.0.0.1');
    s.once('connect', () => (s.destroy(), resolve(true)));
    s.once('error', () => resolve(false));
  });
}

function users(dir: string, fullQuota: boolean): string {
  const home = (u: string) => join(dir, 'dovecot-mail', u);
  return [`max:{PLAIN}x:${NOBODY}:${NOBODY}::${home('max')}::`, `full:{PLAIN}x:${NOBODY}:${NOBODY}::${home('full')}::${fullQuota ? 'userdb_quota_rule=*:storage=10B' : ''}`].join('\n') + '\n';
}

function dovecotConf(dir: string, port: number): string {
  return `base_dir = ${dir}/dovecot-run
state_dir = ${dir}/dovecot-state
log_path = ${dir}/dovecot.log
instance_name = kubemta-test-${port}
protocols = lmtp
listen = 127.0.0.1
ssl = no
default_internal_user = dovecot
default_login_user = dovenull
mail_location = maildir:~/Maildir
passdb {
  driver = passwd-file
  args = ${dir}/dovecot-users
}
userdb {
  driver = passwd-file
  args = ${dir}/dovecot-users
}
service lmtp {
  inet_listener lmtp {
    address = 127.0.0.1
    port = ${port}
  }
  unix_listener lmtp {
    mode = 0666
  }
}
mail_plugins = quota
plugin {
  quota = count:User quota
  quota_vsizes = yes
}
quota_full_tempfail = yes
`;
}

describe('relay/deliver/local: LMTP into Dovecot', { skip: !existsSync(DOVECOT) && 'Dovecot is not installed (apt-get install dovecot-core dovecot-lmtpd)' }, () => {
  let dir: string;
  let cleanup: () => Promise<void>;
  let dovecot: ChildProcess | undefined;
  let t: Started;

  before(async () => {
    ({ dir, cleanup } = await tempDir());
    // Dovecot delivers as the mail user (nobody): it must reach its home below the test directory
    await chmod(dir, 0o711);
    await mkdir(join(dir, 'dovecot-mail'));
    await chown(join(dir, 'dovecot-mail'), NOBODY, NOBODY);
    await mkdir(join(dir, 'dovecot-state'));
    await writeFile(join(dir, 'dovecot-users'), users(dir, true));
    const port = await freePort();
    await writeFile(join(dir, 'dovecot.conf'), dovecotConf(dir, port));
    dovecot = spawn(DOVECOT, ['-F', '-c', join(dir, 'dovecot.conf')], { stdio: 'ignore' });
    await until('Dovecot to listen', async () => (existsSync(join(dir, 'dovecot-run', 'lmtp')) && (await accepts(port))) || undefined);
    t = await startTestRelay(dir, localConfig({
      actions: {
        dovecot: { type: 'lmtp', host: '127.0.0.1', port, rcptTo: 'mailbox' },
        dovecotsocket: { type: 'lmtp', socket: join(dir, 'dovecot-run', 'lmtp'), rcptTo: 'mailbox' },
      },
    }));
  });
  after(async () => {
    await t?.relay.stop();
    if (dovecot && dovecot.exitCode === null) {
      const exited = new Promise((r) => dovecot!.once('exit', r));
      dovecot.kill('SIGTERM');
      await exited;
    }
    await cleanup();
  });

  const route = (mailbox: string, action = 'dovecot') => ({ kind: 'lmtp' as const, mailbox, action, address: `${mailbox}@example.org` });

  it('gets 250, 550 (unknown user, at RCPT) and 452 (over quota, after DATA) in one transaction', async () => {
    const id = await injectMail(t.relay, { from: 'alice@example.net', to: ['max@example.org', 'nobody@example.org', 'full@example.org'], subject: 'to dovecot', routes: [route('max'), route('nobody'), route('full')] });
    const states = await tried(t, id);
    assert.deepEqual(states.map((s) => s.status), ['delivered', 'failed', 'pending']);
    assert.match(states[1].lastError!, /^lmtp\[127\.0\.0\.1:\d+\] said: 550 5\.1\.1 <nobody> User doesn't exist/);
    assert.match(states[2].lastError!, /^lmtp\[127\.0\.0\.1:\d+\] said: 452 4\.2\.2 <full> Quota exceeded/);
    const [msg] = await pythonRead('maildir', join(dir, 'dovecot-mail', 'max', 'Maildir'));
    assert.equal(msg.subject, 'to dovecot');
    assert.match(msg.raw, /^Return-Path: <alice@example\.net>\n/, 'Dovecot writes its own trace fields');
    // the quota is lifted and the retry delivers the deferred copy. Dovecot re-reads its passwd-file when
    // the mtime (whole seconds) changed, and looks at most once a second: hence the future mtime and the wait
    await writeFile(join(dir, 'dovecot-users'), users(dir, false));
    const later = new Date(Date.now() + 5000);
    await utimes(join(dir, 'dovecot-users'), later, later);
    await new Promise((r) => setTimeout(r, 1100));
    await flush(t, id);
    await gone(t, id);
    assert.equal((await pythonRead('maildir', join(dir, 'dovecot-mail', 'full', 'Maildir'))).length, 1);
  });

  it("delivers through Dovecot's Unix socket", async () => {
    const id = await injectMail(t.relay, { from: 'a@example.net', to: ['max@example.org'], subject: 'over the socket', routes: [route('max', 'dovecotsocket')] });
    await gone(t, id);
    const subjects = (await pythonRead('maildir', join(dir, 'dovecot-mail', 'max', 'Maildir'))).map((m) => m.subject);
    assert.ok(subjects.includes('over the socket'), subjects.join(', '));
  });
});
