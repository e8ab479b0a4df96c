// Appending to mbox files. Every append holds the file's dotlock (dotlock.ts), writes the From_ line, the
// trace fields and the mboxrd-quoted message with a blank line after it, and fsyncs before it counts as
// delivered. A write that fails (disk full, I/O error, the queued file gone) truncates the mbox back to
// the size it had before that message, so readers never see half a message.
//
// An mbox that does not end in a blank line (a writer crashed mid-message) gets one first, so the next
// From_ line starts a message of its own.
//
// Appends to one mbox that arrive while another is being written wait and then go together: one lock,
// one fsync for the group (the queue's group commit, applied to a mailbox). Each message still succeeds
// or fails on its own: a failed one is cut off again and the next one starts where it began.
import { constants } from 'node:fs';
import { mkdir, open, type FileHandle } from 'node:fs/promises';
import { dirname } from 'node:path';
import { dotlock } from './dotlock.ts';
import { DirSyncers, writeAll, writeChunks } from './fsutil.ts';

export interface MboxAppend {
  /** The From_ line and trace fields, already formatted. */
  head: string;
  /** The message, already converted (localLines with mboxrd quoting). */
  body: () => AsyncIterable<Buffer>;
  /** When to stop waiting for the lock (ms since the epoch). */
  deadline: number;
}

export interface MboxOptions {
  staleLockMs: number;
  lockPollMs: number;
  /** At most this many messages share one lock and fsync. */
  maxGroup: number;
}

interface Waiting extends MboxAppend {
  resolve: (bytes: number) => void;
  reject: (err: Error) => void;
}

// O_NONBLOCK: opening a FIFO planted where the mbox should be fails (ENXIO) instead of hanging a thread
const APPEND = constants.O_RDWR | constants.O_APPEND | constants.O_NOFOLLOW | constants.O_NONBLOCK;
const SEPARATOR = Buffer.from('\n');

export class MboxWriter {
  private readonly opts: MboxOptions;
  private readonly waiting = new Map<string, Waiting[]>();
  private readonly dirs = new DirSyncers();

  constructor(opts: MboxOptions) {
    this.opts = opts;
  }

  /** Appends one message to the mbox `file`; resolves with the bytes written once they are on disk. */
  append(file: string, message: MboxAppend): Promise<number> {
    return new Promise((resolve, reject) => {
      const queue = this.waiting.get(file);
      if (queue) return void queue.push({ ...message, resolve, reject });
      this.waiting.set(file, [{ ...message, resolve, reject }]);
      void this.drain(file);
    });
  }

  private async drain(file: string): Promise<void> {
    const queue = this.waiting.get(file)!;
    try {
      while (queue.length) await this.appendGroup(file, queue.splice(0, this.opts.maxGroup));
    } finally {
      this.waiting.delete(file);
    }
  }

  private async appendGroup(file: string, group: Waiting[]): Promise<void> {
    const results = new Map<Waiting, number | Error>();
    let release: (() => Promise<void>) | undefined;
    let fh: FileHandle | undefined;
    try {
      await mkdir(dirname(file), { recursive: true, mode: 0o700 });
      release = await dotlock(file, { deadline: Math.min(...group.map((m) => m.deadline)), staleMs: this.opts.staleLockMs, pollMs: this.opts.lockPollMs });
      let created = false;
      fh = await open(file, APPEND).catch(async (err: NodeJS.ErrnoException) => {
        if (err.code !== 'ENOENT') throw err;
        created = true;
        return open(file, APPEND | constants.O_CREAT | constants.O_EXCL, 0o600);
      });
      const st = await fh.stat();
      if (!st.isFile()) throw Object.assign(new Error('not a regular file'), { code: 'EFTYPE' });
      const start = st.size + (await separate(fh, st.size));
      await this.write(fh, start, group, created ? dirname(file) : undefined, results);
    } catch (err) {
      for (const m of group) if (!results.has(m)) results.set(m, err as Error);
    } finally {
      await fh?.close().catch(() => {});
      await release?.();
    }
    // settled only now: a caller told "delivered" finds the lock gone
    for (const m of group) {
      const r = results.get(m) ?? new Error('not written');
      if (typeof r === 'number') m.resolve(r);
      else m.reject(r);
    }
  }

  /** Writes the group from `start`, then fsyncs (and the directory, for a new mbox); a result for each. */
  private async write(fh: FileHandle, start: number, group: Waiting[], newIn: string | undefined, results: Map<Waiting, number | Error>): Promise<void> {
    const written: [Waiting, number][] = [];
    let size = start;
    for (const m of group) {
      try {
        const bytes = await writeChunks(fh, withHead(m.head, m.body()));
        written.push([m, bytes]);
        size += bytes;
      } catch (err) {
        results.set(m, err as Error);
        // cut the partial message off; if even that fails, nothing more goes into this mbox now
        await fh.truncate(size);
      }
    }
    try {
      if (!written.length) return;
      await fh.sync();
      if (newIn) await this.dirs.sync(newIn);
    } catch (err) {
      await fh.truncate(start).catch(() => {});
      for (const [m] of written) results.set(m, err as Error);
      return;
    }
    for (const [m, bytes] of written) results.set(m, bytes);
  }
}

/**
 * Makes the mbox end in a blank line before a From_ line follows: a writer that crashed (or one that does
 * not end its messages as it should) must not glue the next message onto its last line. Returns the
 * bytes added.
 */
async function separate(fh: FileHandle, size: number): Promise<number> {
  if (size === 0) return 0;
  const tail = Buffer.alloc(2);
  const { bytesRead } = await fh.read(tail, 0, Math.min(2, size), size - Math.min(2, size));
  const end = tail.subarray(0, bytesRead).toString('latin1');
  const pad = end === '\n\n' || (size === 1 && end === '\n') ? '' : end.endsWith('\n') ? '\n' : '\n\n';
  if (pad) await writeAll(fh, Buffer.from(pad));
  return pad.length;
}

async function* withHead(head: string, body: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  yield Buffer.from(head);
  yield* body;
  yield SEPARATOR;
}
