// Postfix's smtp-sink(1) as a next hop with switchable EHLO keywords (`-8`: no 8BITMIME; it never
// announces SMTPUTF8): each transaction is dumped to a file (-d), with the MAIL FROM and RCPT TO
// arguments as X-Mail-Args/X-Rcpt-Args fields in front of the message, so a test reads what arrived.
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './postfix.ts';
import { killChild } from './harness.ts';

export const SMTP_SINK = '/usr/sbin/smtp-sink';

export interface PostfixSink {
  port: number;
  /** The dumped transactions (in no set order): envelope arguments and the message, LF lines as dumped. */
  received(): Promise<{ mailArgs: string; rcptArgs: string[]; message: Buffer }[]>;
  close(): Promise<void>;
}

/** Why smtp-sink cannot run here, or undefined. */
export function postfixSinkMissing(): string | undefined {
  if (!existsSync(SMTP_SINK)) return `Postfix's smtp-sink is not installed (${SMTP_SINK}); npm test installs postfix`;
  return undefined;
}

export async function startPostfixSink(flags: string[]): Promise<PostfixSink> {
  // as root smtp-sink runs as nobody (-u), which must reach and write the dump directory: not under a 0700 test dir
  const dumps = await mkdtemp(join(tmpdir(), 'kubemta-smtp-sink-'));
  await chmod(dumps, 0o777);
  const port = await freePort();
  const asUser = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const child: ChildProcess = spawn(SMTP_SINK, [...asUser, ...flags, '-d', `${dumps}/%Y%m%d%H%M%S.`, `127.0.0.1:${port}`, '32'], { stdio: 'ignore' });
  for (let i = 0; i < 50; i++) {
    const up = await new Promise<boolean>((resolve) => {
      const s = connect(port, '127.0.0.1');
      s.once('connect', () => (s.destroy(), resolve(true)));
      s.once('error', () => resolve(false));
    });
    if (up) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return {
    port,
    async received() {
      const names = (await readdir(dumps)).sort();
      return Promise.all(
        names.map(async (n) => {
          const raw = await readFile(join(dumps, n));
          const text = raw.toString('latin1');
          // X-* fields of the dump, then smtp-sink's own Received: field (folded), then the message
          const own = text.indexOf('\nReceived:');
          const message = /\n(?![ \t])/g;
          message.lastIndex = own + 1;
          message.exec(text);
          const fields = text.slice(0, own);
          return {
            mailArgs: /^X-Mail-Args: (.*)$/m.exec(fields)?.[1] ?? '',
            rcptArgs: [...fields.matchAll(/^X-Rcpt-Args: (.*)$/gm)].map((m) => m[1]),
            // the dump ends each message with an empty line of its own
            message: raw.subarray(message.lastIndex, raw.at(-1) === 10 && raw.at(-2) === 10 ? -1 : undefined),
          };
        }),
      );
    },
    async close() {
      await killChild(child);
      await rm(dumps, { recursive: true, force: true });
    },
  };
}
