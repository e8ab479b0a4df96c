// Postfix's smtp-sink(1) as a next hop that keeps what it receives, with switchable EHLO keywords (`-8`: no 8BITMIME; it never
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
import { until } from './until.ts';

const SMTP_SINK = '/usr/sbin/smtp-sink';

export interface DumpingSink {
  port: number;
  /** The dumped transactions (in no set order): envelope arguments and the message, LF lines as dumped. */
  received(): Promise<{ mailArgs: string; rcptArgs: string[]; message: Buffer }[]>;
  close(): Promise<void>;
}

/** Why smtp-sink cannot run here, or undefined. */
export function smtpSinkMissing(): string | undefined {
  if (!existsSync(SMTP_SINK)) return `Postfix's smtp-sink is not installed (${SMTP_SINK}); npm test installs postfix`;
  return undefined;
}

export async function startDumpingSink(flags: string[]): Promise<DumpingSink> {
  // as root smtp-sink runs as nobody (-u), which must reach and write the dump directory: not under a 0700 test dir
  const dumps = await mkdtemp(join(tmpdir(), 'kubemta-smtp-sink-'));
  await chmod(dumps, 0o777);
  const port = await freePort();
  const asUser = process.getuid?.() === 0 ? ['-u', 'nobody'] : [];
  const child: ChildProcess = spawn(SMTP_SINK, [...asUser, ...flags, '-d', `${dumps}/%Y%m%d%H%M%S.`, `127.0.0.1:${port}`, '32'], { stdio: 'ignore' });
  const stop = async () => {
    await killChild(child);
    await rm(dumps, { recursive: true, force: true });
  };
  try {
    await until(`smtp-sink on 127.0.0.1:${port}`, async () => {
      if (child.exitCode !== null) throw new Error(`smtp-sink exited with ${child.exitCode}`);
      return new Promise<boolean>((resolve) => {
        const s = connect(port, '127.0.0.1');
        s.once('connect', () => (s.destroy(), resolve(true)));
        s.once('error', () => resolve(false));
      });
    }, 5000, 50);
  } catch (err) {
    // no caller holds a sink that never got ready: stopped here
    await stop();
    throw err;
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
    close: stop,
  };
}
