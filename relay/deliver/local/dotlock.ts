// mbox locking: a dotlock, `<mbox>.lock` created with O_EXCL, the one lock every mbox reader and writer
// honours on any filesystem (mutt, Dovecot — `mbox_write_locks = dotlock fcntl` by default —, procmail,
// mailx, Python's mailbox.lock(), Postfix's local). fcntl/flock are not taken: Node has no binding for
// either, and every way to get one (fs-ext, os-lock) is a native addon, which the image build does not do;
// a helper process holding the lock would cost a fork per delivery. On Linux the two families do not
// interact anyway, so a dotlock is what makes writers wait for each other.
//
// The lock file holds `kubemta <instance>`, not a pid: liblockfile and Dovecot read a pid from it and
// break the lock when that pid is not alive on *their* host, which a pod's pid namespace would make happen;
// text that is not a pid falls back to age for them, as for us. A lock older than `staleMs` (no holder
// writes that long) is broken, as Postfix does after `stale_lock_time` (500 s). A lock another kubemta
// process left is broken sooner: when it was taken before this process started (a relay killed mid-append
// and restarted on the same mail volume, where it is the only kubemta writer) or is older than a minute
// (no append holds it that long). Without this, a crash would hold a mailbox's mail back for 500 s.
import { constants } from 'node:fs';
import { randomUUID } from 'node:crypto';
import { open, readFile, stat, unlink } from 'node:fs/promises';

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
const OWNER = `kubemta ${randomUUID()}`;
const STARTED = Date.now();
const KUBEMTA_STALE_MS = 60_000;

/** Whether a held lock is a leftover: by age, or as a lock another (dead) kubemta process took. */
async function isStale(lock: string, mtimeMs: number, staleMs: number): Promise<boolean> {
  const age = Date.now() - mtimeMs;
  if (age > staleMs) return true;
  const owner = (await readFile(lock, 'utf8').catch(() => '')).trim();
  return owner.startsWith('kubemta ') && owner !== OWNER && (mtimeMs < STARTED || age > KUBEMTA_STALE_MS);
}

/** Takes `<file>.lock`; resolves to the function that releases it. */
export async function dotlock(file: string, opts: DotlockOptions): Promise<() => Promise<void>> {
  const lock = `${file}.lock`;
  for (;;) {
    try {
      const fh = await open(lock, CREATE, 0o600);
      const { ino } = await fh.stat();
      try {
        await fh.writeFile(OWNER + '\n');
      } catch (err) {
        // a full disk can refuse even these few bytes: leave no lock behind
        await fh.close();
        await unlink(lock).catch(() => {});
        throw err;
      }
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
    if (held && (await isStale(lock, held.mtimeMs, opts.staleMs))) {
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
