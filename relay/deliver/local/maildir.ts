// Delivering into a Maildir (cr.yp.to/proto/maildir.html): the message is written to tmp/<unique>,
// fsynced, linked into new/<unique>,S=<size> and the tmp name removed, then new/ is fsynced (group-
// committed across concurrent deliveries to the same mailbox). link() rather than rename(): it refuses
// to replace an existing file, so even a name collision could never overwrite a delivered mail.
// Names are `<sec>.M<usec>P<pid>Q<n>.<host>` (Dovecot's style; S= lets Dovecot skip a stat).
import { constants } from 'node:fs';
import { link, mkdir, open, unlink, type FileHandle } from 'node:fs/promises';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { DirSyncers, writeChunks } from './fsutil.ts';

const CREATE = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export class MaildirWriter {
  private readonly dirs = new DirSyncers();
  /** Maildirs whose tmp/, new/ and cur/ were there at the last delivery: no mkdir calls for them. */
  private readonly laidOut = new Set<string>();
  /** Deliveries by this writer (the Q part of the name). */
  private seq = 0;
  /** The host part: `/` and `:` are escaped as the Maildir spec says. */
  private readonly host = hostname().replace(/\//g, '\\057').replace(/:/g, '\\072');

  private uniqueName(): string {
    const us = Math.floor((performance.timeOrigin + performance.now()) * 1000);
    return `${Math.floor(us / 1e6)}.M${us % 1e6}P${process.pid}Q${++this.seq}.${this.host}`;
  }

  /** Delivers one message into the Maildir `dir`; resolves with its name under new/ once it is durable. */
  async deliver(dir: string, message: () => AsyncIterable<Buffer>): Promise<string> {
    let created = this.laidOut.has(dir) ? [] : await this.layout(dir);
    let name = this.uniqueName();
    const tmp = join(dir, 'tmp', name);
    let fh: FileHandle | undefined = await open(tmp, CREATE, 0o600).catch(async (err: NodeJS.ErrnoException) => {
      // removed since the last delivery: lay it out again
      if (err.code !== 'ENOENT' || !this.laidOut.delete(dir)) throw err;
      created = await this.layout(dir);
      return open(tmp, CREATE, 0o600);
    });
    let final: string | undefined;
    try {
      const size = await writeChunks(fh, message());
      await fh.sync();
      await fh.close();
      fh = undefined;
      for (let attempt = 0; ; attempt++) {
        const target = join(dir, 'new', `${name},S=${size}`);
        try {
          await link(tmp, target);
          final = target;
          break;
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt >= 3) throw err;
          name = this.uniqueName();
        }
      }
      await unlink(tmp);
      await this.dirs.sync(join(dir, 'new'));
      // a Maildir made just now: its own entry and that of the maildir/ directory must last as well
      for (const d of created) await this.dirs.sync(d);
      return `new/${name},S=${size}`;
    } catch (err) {
      this.laidOut.delete(dir); // the next attempt checks the layout again
      await fh?.close().catch(() => {});
      await unlink(tmp).catch(() => {});
      // not durable, so not delivered: take it back, or the retry would leave a second copy
      if (final) await unlink(final).catch(() => {});
      throw err;
    }
  }

  /** Creates tmp/, new/ and cur/ as needed; returns the directories whose entries changed. */
  private async layout(dir: string): Promise<string[]> {
    const first = await mkdir(join(dir, 'tmp'), { recursive: true, mode: 0o700 });
    const madeNew = await made(join(dir, 'new'));
    const madeCur = await made(join(dir, 'cur'));
    this.laidOut.add(dir);
    if (first === undefined) return madeNew || madeCur ? [dir] : [];
    // the parent of every directory made, from the Maildir itself up to the one holding the first
    const changed = [dir];
    for (let d = dir; d !== dirname(first) && d !== dirname(d); d = dirname(d)) changed.push(dirname(d));
    return changed;
  }
}

async function made(dir: string): Promise<boolean> {
  try {
    await mkdir(dir, { mode: 0o700 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    return false;
  }
}
