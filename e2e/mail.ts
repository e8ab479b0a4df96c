// Real mail clients against the relay pod (by pod IP from the host), and the mailboxes on its mail volume.
import { X509Certificate } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTransport } from 'nodemailer';
import { exec, type Exec } from './kube.ts';

/** swaks against host:port; its transcript is stdout and stderr together. */
export async function swaks(host: string, port: number, args: string[]): Promise<Exec & { transcript: string }> {
  const r = await exec('swaks', ['--server', host, '--port', String(port), '--timeout', '20', ...args], { timeoutMs: 60_000 });
  return { ...r, transcript: r.stdout + r.stderr };
}

export interface ServedCert {
  subject: string;
  san: string;
  fingerprint: string;
}

export function certInfo(pem: string | Buffer): ServedCert {
  const x = new X509Certificate(pem);
  return { subject: x.subject, san: x.subjectAltName ?? '', fingerprint: x.fingerprint256 };
}

/** The certificate served after STARTTLS, asking for `servername` by SNI (none: no SNI), with openssl s_client. */
export async function servedCert(host: string, port: number, servername?: string): Promise<ServedCert> {
  const args = ['s_client', '-starttls', 'smtp', '-connect', `${host}:${port}`, ...(servername ? ['-servername', servername] : ['-noservername'])];
  const r = await exec('openssl', args, { input: 'QUIT\r\n', timeoutMs: 30_000 });
  const pem = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/.exec(r.stdout)?.[0];
  if (!pem) throw new Error(`openssl s_client ${host}:${port} (${servername ?? 'no SNI'}): no certificate\n${r.stdout}${r.stderr}`);
  return certInfo(pem);
}

/**
 * Python's smtplib: EHLO, optionally AUTH before STARTTLS (expecting the refusal), STARTTLS, AUTH PLAIN, send.
 * Prints one line per step: `ehlo-auth <bool>`, `auth-before-tls <code>`, `tls-auth <bool>`, `auth <code>`, `sent <refused>`.
 */
export function pythonSubmit(host: string, port: number, user: string, password: string, from: string, to: string, message: string): Promise<Exec> {
  const script = `
import smtplib, ssl, sys
host, port, user, password, sender, rcpt, msg = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5], sys.argv[6], sys.argv[7]
s = smtplib.SMTP(host, port, timeout=20)
s.ehlo('e2e.client.test')
print('ehlo-auth', s.has_extn('auth'))
try:
    code, _ = s.docmd('AUTH', 'PLAIN AG1heABkZW1vLXBhc3N3b3Jk')
    print('auth-before-tls', code)
except smtplib.SMTPServerDisconnected:
    print('auth-before-tls disconnected')
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
s.starttls(context=ctx)
s.ehlo('e2e.client.test')
print('tls-auth', s.has_extn('auth'))
code, _ = s.login(user, password)
print('auth', code)
print('sent', s.sendmail(sender, [rcpt], msg.encode()))
s.quit()
`;
  return exec('python3', ['-c', script, host, String(port), user, password, from, to, message], { timeoutMs: 60_000 });
}

/** A message with a unique id in its Subject and an X-E2E-Id header, to find it in a mailbox. */
export function testMessage(id: string, from: string, to: string): string {
  return [`From: <${from}>`, `To: <${to}>`, `Subject: e2e ${id}`, `X-E2E-Id: ${id}`, `Message-ID: <${id}@e2e.test>`, '', `Body of ${id}.`, ''].join('\r\n');
}

export interface SendOptions {
  /** Sessions at once (one message per connection). */
  concurrency?: number;
  /** Filled as replies come in (the caller can watch progress). */
  replies?: Map<string, string>;
  /** Checked before each message: true stops sending. */
  stop?: () => boolean;
}

/** Plain SMTP (no TLS, no AUTH, nodemailer) to a listener, one message per connection: the final reply per message id. */
export async function sendPlain(host: string, port: number, mails: { id: string; from: string; to: string }[], opts: SendOptions = {}): Promise<Map<string, string>> {
  const replies = opts.replies ?? new Map<string, string>();
  const queue = [...mails];
  const worker = async () => {
    for (let m = queue.shift(); m && !opts.stop?.(); m = queue.shift()) {
      const t = createTransport({ host, port, secure: false, ignoreTLS: true, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000, name: 'e2e.client.test' });
      try {
        const info = await t.sendMail({ envelope: { from: m.from, to: [m.to] }, raw: testMessage(m.id, m.from, m.to) });
        replies.set(m.id, info.response);
      } catch (err) {
        replies.set(m.id, String((err as { response?: string }).response ?? (err as Error).message));
      } finally {
        t.close();
      }
    }
  };
  await Promise.all(Array.from({ length: opts.concurrency ?? 1 }, worker));
  return replies;
}

/** The mail volume's mailboxes (hostPath on this machine): `<store>/mbox/<mailbox>`. */
export class Mailboxes {
  readonly store: string;
  constructor(store: string) {
    this.store = store;
  }

  text(mailbox: string): string {
    const f = join(this.store, 'mbox', mailbox);
    return existsSync(f) ? readFileSync(f, 'latin1') : '';
  }

  /** How many messages in `mailbox` carry X-E2E-Id `id`. */
  count(mailbox: string, id: string): number {
    return this.ids(mailbox).get(id) ?? 0;
  }

  /** Every X-E2E-Id in `mailbox`, with how often it occurs. */
  ids(mailbox: string): Map<string, number> {
    const out = new Map<string, number>();
    for (const m of this.text(mailbox).matchAll(/^X-E2E-Id: (\S+)\r?$/gm)) out.set(m[1], (out.get(m[1]) ?? 0) + 1);
    return out;
  }
}
