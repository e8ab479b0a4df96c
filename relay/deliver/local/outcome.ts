// What a local delivery error means for the recipient. Nothing a mailbox's disk or permissions do is
// permanent: the mail stays queued and is retried (an operator frees space or fixes modes, no mail is
// lost); only a mailbox name that can never be a file is refused for good. The detail starts with the
// RFC 3463 code the DSN will carry, and names the mailbox, never a path or the message.
import type { DeliveryOutcome } from '../../scheduler/scheduler.ts';
import { LockTimeout } from './dotlock.ts';

const BY_CODE: Record<string, [status: string, text: string]> = {
  ENOSPC: ['4.3.1', 'no space left on device'],
  EDQUOT: ['4.2.2', 'disk quota exceeded'],
  EFBIG: ['4.2.2', 'file too large'],
  EACCES: ['4.2.0', 'permission denied'],
  EPERM: ['4.2.0', 'operation not permitted'],
  EROFS: ['4.2.0', 'read-only file system'],
  ELOOP: ['4.2.0', 'is a symbolic link, not followed'],
  EISDIR: ['4.2.0', 'is a directory'],
  ENOTDIR: ['4.2.0', 'a path component is not a directory'],
  EFTYPE: ['4.2.0', 'is not a regular file'],
  ENXIO: ['4.2.0', 'is not a regular file'],
  EIO: ['4.3.0', 'I/O error'],
  // mkdir of the mailbox's directory met a file of that name (recursive mkdir reports EEXIST)
  EEXIST: ['4.2.0', 'a file stands where its directory should be'],
};

/** `where` names the mailbox, e.g. `mbox "max"`. */
export function localFailure(index: number, where: string, err: unknown): DeliveryOutcome {
  if (err instanceof LockTimeout) return { index, result: 'deferred', detail: `4.2.0 ${where}: still locked by another process (dotlock)` };
  const e = err as NodeJS.ErrnoException;
  const known = e.code ? BY_CODE[e.code] : undefined;
  // an unknown system error's message may name a path: only its code goes into the detail
  const [status, text] = known ?? ['4.3.0', e.code ? 'unexpected error' : e.message];
  return { index, result: 'deferred', detail: `${status} ${where}: ${text}${e.code ? ` (${e.code}${e.syscall ? `, ${e.syscall}` : ''})` : ''}` };
}
