// Where a local mailbox lives under the mail store, and the check that keeps a mailbox name from ever
// becoming a path: resolution promises a safe single path component, but the delivery side does not take
// that on trust (a table typo, a future resolver bug) — a name that could escape is refused outright.
import { join } from 'node:path';

export type MailboxFormat = 'mbox' | 'maildir';

export type MailboxPath = { kind: 'ok'; path: string } | { kind: 'invalid'; reason: string };

/** `<mailStore>/mbox/<mailbox>` (a file) or `<mailStore>/maildir/<mailbox>` (a directory). */
export function mailboxPath(mailStore: string, format: MailboxFormat, mailbox: string): MailboxPath {
  const reason = unsafeMailboxName(mailbox);
  return reason ? { kind: 'invalid', reason: `mailbox name ${JSON.stringify(mailbox)} ${reason}` } : { kind: 'ok', path: join(mailStore, format, mailbox) };
}

/** Why `name` is not a safe single path component; undefined when it is. */
export function unsafeMailboxName(name: string): string | undefined {
  if (name === '') return 'is empty';
  if (name === '.' || name === '..') return 'is a directory reference';
  if (name.includes('/')) return 'contains "/"';
  if (name.includes('\0')) return 'contains NUL';
  if (/[\x01-\x1f\x7f]/.test(name)) return 'contains a control character';
  // a leading dot is a Maildir++ folder or a hidden file; `<name>.lock` is an mbox's dotlock
  if (name.startsWith('.')) return 'starts with "."';
  if (name.endsWith('.lock')) return 'ends in ".lock" (the name of a lock file)';
  // room for the `.lock` suffix within NAME_MAX (255 bytes)
  if (Buffer.byteLength(name) > 250) return 'is longer than 250 bytes';
  return undefined;
}
