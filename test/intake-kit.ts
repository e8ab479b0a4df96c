// Shared by the intake tests: a test message, sending it with swaks, and reading back the Maildir file
// the relay delivered, by its Subject.
import assert from 'node:assert/strict';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { swaks, type RunResult } from './harness.ts';
import { until } from './until.ts';

export function testMessage(from: string, subject: string, extra = ''): string {
  const header = [`From: <${from}>`, 'To: <box@example.org>', `Subject: ${subject}`, 'Date: Sun, 06 Dec 2026 02:00:00 +0000', `Message-ID: <${subject.replace(/\W/g, '')}@test>`];
  if (extra) header.push(extra);
  return header.join('\r\n') + '\r\n\r\nHello.\r\n';
}

/** Sends `raw` with swaks from `from` to box@example.org; the transcript and exit code. */
export async function sendWithSwaks(dir: string, port: number, from: string, raw: string, extra: string[] = []): Promise<RunResult & { transcript: string }> {
  const file = join(dir, `mail-${Date.now()}-${Math.random().toString(36).slice(2)}.eml`);
  await writeFile(file, raw);
  return swaks(port, ['--helo', 'client.test', '--from', from, '--to', 'box@example.org', '--data', `@${file}`, ...extra]);
}

/** The file delivered into `maildir`/new whose Subject: line is exactly `subject`. */
export function deliveredWithSubject(maildir: string, subject: string): Promise<string> {
  return until(`"${subject}" delivered`, async () => {
    for (const name of await readdir(join(maildir, 'new')).catch(() => [] as string[])) {
      const text = await readFile(join(maildir, 'new', name), 'latin1');
      if (text.includes(`\nSubject: ${subject}\n`)) return text;
    }
    return undefined;
  });
}

/** Sends and waits for the delivered copy (found by `deliveredSubject`, default the one sent). */
export async function sendAndDeliver(dir: string, maildir: string, port: number, from: string, raw: string, subject: string, extra: string[] = []): Promise<string> {
  const r = await sendWithSwaks(dir, port, from, raw, extra);
  assert.equal(r.code, 0, r.transcript);
  return deliveredWithSubject(maildir, subject);
}

export const headerOf = (text: string): string => text.slice(0, text.indexOf('\n\n') + 1);

/** The fields of a delivered message's header section named `name`, folded lines kept. */
export function fieldsNamed(text: string, name: string): string[] {
  return headerOf(text)
    .split(/\n(?![ \t])/)
    .filter((f) => f.toLowerCase().startsWith(name.toLowerCase() + ':'));
}

/** A relay config's routing for the intake tests: box@example.org into the Maildir mail/maildir/box. */
export const boxRouting = {
  mailStore: 'mail',
  rules: [{ from: 'any', for: { domain: 'example.org' }, virtual: 'box', action: 'maildir' }],
  actions: { maildir: { type: 'maildir' } },
};
export const boxTable = { box: { type: 'virtual', entries: { 'box@example.org': 'box' } } };
