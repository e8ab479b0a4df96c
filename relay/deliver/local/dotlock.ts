// mbox locking: a dotlock, `<mbox>.lock` created with O_EXCL, the one lock every mbox reader and writer
// honours on any filesystem (mutt, Dovecot — `mbox_write_locks = dotlock fcntl` by default —, procmail,
// mailx, Python's mailbox.lock(), Postfix's local). fcntl/flock are not taken: Node has no binding for
// either, and every way to get one (fs-ext, os-lock) is a native addon, which the image build does not do;
// a helper process holding the lock would cost a fork per delivery. On Linux the two families do not
// interact anyway, so a dotlock is what makes writers wait for each other.
//
// The lock is created whole: the owner line is written to a unique hidden file beside it, which is then
// link()ed to `<mbox>.lock` (as liblockfile does; link, unlike rename, fails when the name exists). Taking
// the lock with O_EXCL and writing the owner after it left an empty lock when the relay was killed in
// between, and an empty lock is what a live Postfix local or mutt may hold: it was waited for until
// `staleMs`, holding the mailbox's mail back for 500 s.
//
// The owner line is `kubemta <instance> <pid> <host>`, not a bare pid: liblockfile and Dovecot read a pid
// from a lock and break it when that pid is not alive on *their* host, which a pod's pid namespace would
// make happen; text that is not a pid falls back to age for them, as for us. A lock older than `staleMs`
// (no holder writes that long) is broken, as Postfix does after `stale_lock_time` (500 s). A lock another
// kubemta process took is broken at once when its owner is gone: on this host (the pod's hostname) its pid
// is not alive or is our own (a restarted container), or, from another host, it was taken before this
// process started (a relay killed mid-append and restarted on the same mail volume, where it is the only
// kubemta writer: a MailServer runs one replica per mail volume). Any kubemta lock older than a minute is
// broken too (no append holds it that long).
import { constants } from 'node:fs';
import { randomBytes, randomUUID } from 'node:crypto';
import { link, open, readFile, stat, unlink } from 'node:fs/promises';
import { hostname } from 'node:os';
import { basename, dirname, join } from 'node:path';

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
const INSTANCE = randomUUID();
const HOST = hostname();
const OWNER = `kubemta ${INSTANCE} ${process.pid} ${HOST}`;
const STARTED = Date.now();
const KUBEMTA_STALE_MS = 60_000;

/** Whether a process with this pid runs here (EPERM: it does, as another user). */
function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether a held lock is a leftover: by age, or as a lock a kubemta process that is gone took. */
async function isStale(lock: string, mtimeMs: number, staleMs: number): Promise<boolean> {
  const age = Date.now() - mtimeMs;
  if (age > staleMs) return true;
  // empty or foreign (a pid from liblockfile, nothing from Postfix): only its age can tell
  const [tag, instance, pidText, host] = (await readFile(lock, 'utf8').catch(() => '')).trim().split(' ');
  if (tag !== 'kubemta' || !instance || instance === INSTANCE) return false;
  if (age > KUBEMTA_STALE_MS) return true;
  const pid = Number(pidText);
  if (host === HOST && Number.isInteger(pid) && pid > 0) {
    // our own pid under another instance: a previous process of this container
    if (pid === process.pid || !alive(pid)) return true;
    return false;
  }
  return mtimeMs < STARTED;
}

/** Writes the owner line to a unique file next to the lock; returns its name and inode. */
async function ownerFile(lock: string): Promise<{ tmp: string; ino: number }> {
  const tmp = join(dirname(lock), `.${basename(lock)}.${randomBytes(8).toString('hex')}`);
  const fh = await open(tmp, CREATE, 0o600);
  try {
    await fh.writeFile(OWNER + '\n');
    return { tmp, ino: (await fh.stat()).ino };
  } catch (err) {
    // a full disk can refuse even these few bytes: leave nothing behind
    await unlink(tmp).catch(() => {});
    throw err;
  } finally {
    await fh.close();
  }
}

/** link(tmp, lock): true when the lock is ours. Over NFS a lost reply can fail a link that was made: nlink says. */
async function linkLock(tmp: string, lock: string): Promise<boolean> {
  try {
    await link(tmp, lock);
    return true;
  } catch (err) {
    if ((await stat(tmp).catch(() => undefined))?.nlink === 2) return true;
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  }
}

/** Takes `<file>.lock`; resolves to the function that releases it. */
export async function dotlock(file: string, opts: DotlockOptions): Promise<() => Promise<void>> {
  const lock = `${file}.lock`;
  const { tmp, ino } = await ownerFile(lock);
  try {
    for (;;) {
      if (await linkLock(tmp, lock)) {
        return async () => {
          // only our own lock: after a stale break someone else's may stand there
          const now = await stat(lock).catch(() => undefined);
          if (now?.ino === ino) await unlink(lock).catch(() => {});
        };
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
  } finally {
    // the lock (if ours) is the other name of the same file: the owner line stays in it
    await unlink(tmp).catch(() => {});
  }
}
