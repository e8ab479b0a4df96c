// A private Postfix instance for the differential test: its own config, queue and data directories under
// a temp dir, smtpd on a loopback port, everything accepted for x.test discarded. The system's Postfix
// (/etc/postfix, /var/spool/postfix) is never touched. Needs root (Postfix's master runs as root).
import { existsSync } from 'node:fs';
import { chmod, chown, mkdir, readFile, writeFile } from 'node:fs/promises';
import { createServer, connect } from 'node:net';
import { join } from 'node:path';
import { run } from './harness.ts';

export const POSTFIX = '/usr/sbin/postfix';
export const SMTPD = '/usr/lib/postfix/sbin/smtpd';

/** Why the differential test cannot run here, or undefined when it can. */
export function postfixMissing(): string | undefined {
  if (!existsSync(POSTFIX) || !existsSync(SMTPD)) return `Postfix is not installed (${POSTFIX}, ${SMTPD}); npm test installs it (apt-get install postfix)`;
  if (process.getuid?.() !== 0) return 'a private Postfix instance needs root (its master process runs as root)';
  return undefined;
}

export async function freePort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

/** Resolves once something on port answers with a 220 greeting; bounded by timeoutMs. */
async function waitForGreeting(port: number, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      const t = setTimeout(() => (s.destroy(), resolve(false)), 1000);
      s.once('data', (d) => (clearTimeout(t), s.destroy(), resolve(String(d).startsWith('220'))));
      s.once('error', () => (clearTimeout(t), resolve(false)));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`postfix did not greet on port ${port} within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

export interface PostfixSettings {
  maxRecipients: number;
  maxMessageBytes: number;
}

// Only the daemons smtpd needs to answer every step (trivial-rewrite for addresses, cleanup for DATA,
// qmgr + discard so accepted mail leaves the private queue); chroot off, the queue dir is no jail.
const MASTER_CF = (port: number) => `127.0.0.1:${port} inet n - n - - smtpd
cleanup unix n - n - 0 cleanup
qmgr unix n - n 300 1 qmgr
rewrite unix - - n - - trivial-rewrite
bounce unix - - n - 0 bounce
defer unix - - n - 0 bounce
trace unix - - n - 0 bounce
verify unix - - n - 1 verify
proxymap unix - - n - - proxymap
error unix - - n - - error
retry unix - - n - - error
discard unix - - n - - discard
anvil unix - - n - 1 anvil
scache unix - - n - 1 scache
postlog unix-dgram n - n - 1 postlogd
pickup unix n - n 60 1 pickup
flush unix n - n 1000? 0 flush
showq unix n - n - - showq
`;

export async function startPostfix(dir: string, s: PostfixSettings): Promise<{ port: number; stop: () => Promise<void>; log: () => Promise<string> }> {
  const port = await freePort();
  // postfix (the user) must reach its queue and data directories through the temp dir
  await chmod(dir, 0o755);
  await mkdir(join(dir, 'queue'), { recursive: true });
  await mkdir(join(dir, 'data'), { recursive: true });
  await chown(join(dir, 'data'), Number((await run('id', ['-u', 'postfix'])).stdout.trim()), 0);
  // Defaults everywhere except: the private directories, loopback, a virtual domain x.test with users a
  // and b (what the relay's differential config accepts), relaying refused, the same size and recipient
  // limits as the relay, no DNS for the client's name.
  await writeFile(
    join(dir, 'main.cf'),
    `compatibility_level = 3.6
queue_directory = ${dir}/queue
data_directory = ${dir}/data
maillog_file = ${dir}/maillog
maillog_file_prefixes = ${dir}
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
myhostname = postfix.test
mydestination =
mynetworks = 127.0.0.0/8
smtpd_peername_lookup = no
virtual_mailbox_domains = x.test
virtual_mailbox_maps = inline:{ {a@x.test=a}, {b@x.test=b}, {c@x.test=c}, {d@x.test=d}, {postmaster@x.test=pm} }
virtual_transport = discard
default_transport = discard
relay_transport = discard
smtpd_relay_restrictions = reject_unauth_destination
smtpd_recipient_limit = ${s.maxRecipients}
message_size_limit = ${s.maxMessageBytes}
`,
  );
  await writeFile(join(dir, 'master.cf'), MASTER_CF(port));
  const stop = async () => {
    await run(POSTFIX, ['-c', dir, 'stop'], { timeoutMs: 15000 });
    // postfix stop returns before master is gone; wait for it, then make sure
    const pidFile = join(dir, 'queue', 'pid', 'master.pid');
    const pid = existsSync(pidFile) ? Number((await readFile(pidFile, 'utf8')).trim()) : 0;
    for (let i = 0; pid && i < 50; i++) {
      try {
        process.kill(pid, 0);
      } catch {
        return;
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    if (pid) try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
  };
  const started = await run(POSTFIX, ['-c', dir, 'start'], { timeoutMs: 30000 });
  const log = async () => (existsSync(join(dir, 'maillog')) ? readFile(join(dir, 'maillog'), 'utf8') : '');
  if (started.code !== 0) {
    await stop();
    throw new Error(`postfix start failed: ${started.stdout}${started.stderr}${await log()}`);
  }
  try {
    await waitForGreeting(port, 15000);
  } catch (err) {
    await stop();
    throw new Error(`${(err as Error).message}\n${await log()}`);
  }
  return { port, stop, log };
}
