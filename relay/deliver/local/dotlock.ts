// mbox locking: a dotlock, `<mbox>.lock` created with O_EXCL, the one lock every mbox reader and writer
// honours on any filesystem (mutt, Dovecot — `mbox_write_locks = dotlock fcntl` by default —, procmail,
// mailx, Python's mailbox.lock(), Postfix's local). fcntl/flock are not taken: Node has no binding for
// either, and every way to get one (fs-ext, os-lock) is a native addon, which the image build does not do;
// a helper process holding the lock would cost a fork per delivery. On Linux the two families do not
// interact anyway, so a dotlock is what makes writers wait for each other.
//
// The lock file stays empty: liblockfile and Dovecot read a pid from it and break the lock when that pid
// is not alive on *their* host, which a pod's pid namespace would make happen; an empty lock falls back
// to age, as ours does. A lock older than `staleMs` (no holder writes that long) is broken, as Postfix
// does after `stale_lock_time` (500 s).
import { constants } from 'node:fs';
import { open, stat, unlink } from 'node:fs/promises';

export interface DotlockOptions {
  /** When to give up waiting (ms since the epoch). */
  deadline: number;
  /** A lock file this old (mtime) is a leftover of a dead writer. */
  staleMs: number;
  pollMs: number;
}

export class LockTimeout extends Error {
  readonly code = 'ELOCKTIMEOUT';
}

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

/** Takes `<file>.lock`; resolves to the function that releases it. */
export async function dotlock(file: string, opts: DotlockOptions): Promise<() => Promise<void>> {
  const lock = `${file}.lock`;
  for (;;) {
    try {
      const fh = await open(lock, CREATE, 0o600);
      const { ino } = await fh.stat();
      await fh.close();
      return async () => {
        // only our own lock: after a stale break someone else's may stand there
        const now = await stat(lock).catch(() => undefined);
        if (now?.ino === ino) await unlink(lock).catch(() => {});
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const held = await stat(lock).catch(() => undefined);
    if (held && Date.now() - held.mtimeMs > opts.staleMs) {
      // unlink only the lock judged stale, not one that replaced it meanwhile
      const again = await stat(lock).catch(() => undefined);
      if (again?.ino === held.ino) await unlink(lock).catch(() => {});
      continue;
    }
    if (!held) continue;
    if (Date.now() + opts.pollMs > opts.deadline) throw new LockTimeout(`${lock} is held by another process`);
    await new Promise((r) => setTimeout(r, opts.pollMs));
  }
}
