// The on-disk queue (the queue PVC). Layout under the queue directory:
//   incoming/<id>      a mail being received; never acknowledged, removed on recovery
//   messages/<id>      one line `KMQ1 <envelope JSON>\n`, then the message as received (with our Received:)
//   state/<id>.json    per-recipient delivery state; absent means "all pending, nothing tried yet"
//   corrupt/           files that could not be read, kept for a human, never deleted
// A mail is committed when messages/<id> exists and its directory entry is fsynced: the content is fsynced
// on close (flush), the rename is fsynced by a group-committed directory fsync, and only then is 250 sent.
import { createReadStream, createWriteStream, type WriteStream } from 'node:fs';
import { chmod, mkdir, open, readdir, readFile, rename, rm, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { DirSyncer } from './dirsync.ts';
import { initialState, QUEUE_ID, type Envelope, type MailState } from './envelope.ts';
import { ContentScanner, type ContentFacts } from '../protocol/content-facts.ts';

export const HEADER_MAGIC = 'KMQ1 ';

/**
 * A mail just committed is usually delivered at once: its content, still in memory from intake, spares that
 * first attempt opening and reading the file it was just written to (four thread-pool round trips per mail,
 * each a pair of context switches: a third of the queue's file operations; bench/RESULTS.md). Kept for
 * mails up to FRESH_MAX_MAIL bytes, FRESH_MAX_TOTAL in all; a mail past either is read from its file.
 */
const FRESH_MAX_MAIL = 64 * 1024;
const FRESH_MAX_TOTAL = 4 * 1024 * 1024;

/**
 * Creates the queue's directories 0700 and sets them so when they exist already (a queue written under a
 * umask of 022 was readable by every local user). Files in them are created 0600. mkdir's mode only loses
 * bits to the umask, so 0700 and 0600 are the most any umask leaves. The queue directory itself may be a
 * volume's root that the relay does not own: it is tightened when possible, the subdirectories suffice.
 */
async function privateDirs(dir: string, subdirs: string[]): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  await chmod(dir, 0o700).catch(() => {});
  for (const d of subdirs) {
    await mkdir(join(dir, d), { recursive: true, mode: 0o700 });
    await chmod(join(dir, d), 0o700);
  }
}

export interface QueuedMail {
  envelope: Envelope;
  state: MailState;
  /** Bytes before the message content in messages/<id>. */
  headerBytes: number;
  /** Message size in bytes. */
  size: number;
  /**
   * What the content holds that a next hop may not accept, found while it was written. Kept in memory
   * only: a mail recovered after a restart has none, and its first onward delivery scans it.
   */
  content?: ContentFacts;
}

export interface QueueOptions {
  fsync: boolean;
  groupCommitMs: number;
  minFreeBytes: number;
}

export interface RecoveryReport {
  recovered: number;
  removedIncomplete: number;
  corrupt: string[];
}

export interface Incoming {
  readonly id: string;
  /** Write the message content here; the store fsyncs it when commit() closes it. */
  readonly stream: WriteStream;
  /** Closes, fsyncs and publishes the mail; resolves only once it is durable. */
  commit(): Promise<QueuedMail>;
  /** Removes whatever was written; the mail was never acknowledged. */
  abort(): Promise<void>;
}

export interface Scratch {
  readonly path: string;
  readonly stream: WriteStream;
  remove(): Promise<void>;
}

export class QueueStore {
  readonly dir: string;
  private readonly opts: QueueOptions;
  private readonly mails = new Map<string, QueuedMail>();
  /** Mails with a state/<id>.json on disk: removal unlinks it only then (a failing rm costs an error object). */
  private readonly withState = new Set<string>();
  private readonly messagesSync: DirSyncer;
  private readonly stateSync: DirSyncer;
  private freeCheckedAt = 0;
  private lowOnSpace = false;
  /** Content of committed mails not yet handed to a delivery (see FRESH_MAX_MAIL). */
  private readonly fresh = new Map<string, Buffer>();
  private freshBytes = 0;
  /** Called with every newly committed mail (the scheduler's doorbell). */
  onCommitted: (mail: QueuedMail) => void = () => {};

  constructor(dir: string, opts: QueueOptions) {
    this.dir = dir;
    this.opts = opts;
    this.messagesSync = new DirSyncer(join(dir, 'messages'), opts.groupCommitMs);
    this.stateSync = new DirSyncer(join(dir, 'state'));
  }

  get directoryFsyncs(): number {
    return this.messagesSync.waves + this.stateSync.waves;
  }

  private path(kind: 'incoming' | 'messages' | 'corrupt', id: string): string {
    return join(this.dir, kind, id);
  }

  private statePath(id: string): string {
    return join(this.dir, 'state', `${id}.json`);
  }

  /** Creates the layout and recovers what a previous process left: complete mails stay, the rest goes. */
  async open(): Promise<RecoveryReport> {
    await privateDirs(this.dir, ['incoming', 'messages', 'state', 'corrupt']);
    const report: RecoveryReport = { recovered: 0, removedIncomplete: 0, corrupt: [] };
    for (const name of await readdir(join(this.dir, 'incoming'))) {
      await rm(join(this.dir, 'incoming', name), { force: true });
      report.removedIncomplete++;
    }
    const ids = new Set<string>();
    for (const name of await readdir(join(this.dir, 'messages'))) {
      if (!QUEUE_ID.test(name)) {
        await this.quarantine(join(this.dir, 'messages', name), name);
        report.corrupt.push(name);
        continue;
      }
      const mail = await this.readMessage(name);
      if (!mail) {
        await this.quarantine(this.path('messages', name), name);
        report.corrupt.push(name);
        continue;
      }
      ids.add(name);
      this.mails.set(name, mail);
      report.recovered++;
    }
    for (const name of await readdir(join(this.dir, 'state'))) {
      const id = name.replace(/\.json(\.tmp)?$/, '');
      if (name.endsWith('.tmp') || !ids.has(id)) await rm(join(this.dir, 'state', name), { force: true });
      else this.withState.add(id);
    }
    return report;
  }

  private async quarantine(from: string, name: string): Promise<void> {
    await rename(from, this.path('corrupt', `${name}.${Date.now()}`));
    const st = this.statePath(name);
    await rename(st, this.path('corrupt', `${name}.state.${Date.now()}`)).catch(() => {});
  }

  /** Reads the envelope line and the state of one queued mail; undefined when unreadable. */
  private async readMessage(id: string): Promise<QueuedMail | undefined> {
    let fh;
    try {
      fh = await open(this.path('messages', id), 'r');
      const { size } = await fh.stat();
      // the envelope line is usually a few hundred bytes: read that much, not the message behind it
      let head = Buffer.alloc(Math.min(size, 64 * 1024));
      let bytesRead = (await fh.read(head, 0, head.length, 0)).bytesRead;
      if (head.subarray(0, bytesRead).indexOf(10) < 0 && size > head.length) {
        head = Buffer.alloc(Math.min(size, 1 << 20));
        bytesRead = (await fh.read(head, 0, head.length, 0)).bytesRead;
      }
      const nl = head.subarray(0, bytesRead).indexOf(10);
      if (nl < 0 || head.subarray(0, HEADER_MAGIC.length).toString() !== HEADER_MAGIC) return undefined;
      const envelope = JSON.parse(head.subarray(HEADER_MAGIC.length, nl).toString('utf8')) as Envelope;
      if (envelope.id !== id || !Array.isArray(envelope.recipients)) return undefined;
      let state = initialState(envelope);
      try {
        const text = await readFile(this.statePath(id), 'utf8');
        const parsed = JSON.parse(text) as MailState;
        if (parsed.recipients?.length === envelope.recipients.length) state = parsed;
      } catch {
        // no state file yet: nothing attempted
      }
      return { envelope, state, headerBytes: nl + 1, size: size - nl - 1 };
    } catch {
      return undefined;
    } finally {
      await fh?.close();
    }
  }

  /** The free-space floor MAIL FROM's guard and /readyz's check both hold the queue to. */
  get minFreeBytes(): number {
    return this.opts.minFreeBytes;
  }

  /** Cheap guard for MAIL FROM: is there room for more mail? Checked at most once a second. */
  async hasRoom(): Promise<boolean> {
    const now = Date.now();
    if (now - this.freeCheckedAt > 1000) {
      this.freeCheckedAt = now;
      try {
        const s = await statfs(this.dir);
        this.lowOnSpace = s.bavail * s.bsize < this.minFreeBytes;
      } catch {
        this.lowOnSpace = false;
      }
    }
    return !this.lowOnSpace;
  }

  /** Starts receiving a mail: its envelope is written first, the content follows through `stream`. */
  create(envelope: Envelope): Incoming {
    const id = envelope.id;
    const tmp = this.path('incoming', id);
    const header = `${HEADER_MAGIC}${JSON.stringify(envelope)}\n`;
    const headerBytes = Buffer.byteLength(header);
    // flush: fsync before close. 'wx': never overwrite an existing file (O_EXCL).
    const stream = createWriteStream(tmp, { flags: 'wx', mode: 0o600, flush: this.opts.fsync, highWaterMark: 256 * 1024 });
    // what follows the header is the content: kept (by reference, as the file write holds it too) while
    // small. Seen where the stream hands chunks to the file (decoded to Buffers), however they were written.
    let kept: Buffer[] | undefined = [];
    let seen = 0;
    const scanner = new ContentScanner();
    const keep = (chunk: Buffer) => {
      seen += chunk.length;
      if (seen <= headerBytes) return;
      const content = seen - chunk.length < headerBytes ? chunk.subarray(headerBytes - (seen - chunk.length)) : chunk;
      scanner.feed(content);
      if (!kept) return;
      if (seen - headerBytes > FRESH_MAX_MAIL) kept = undefined;
      else kept.push(content);
    };
    type Chunk = { chunk: Buffer };
    const raw = stream as unknown as { _write(c: Buffer, e: BufferEncoding, cb: (err?: Error | null) => void): void; _writev(cs: Chunk[], cb: (err?: Error | null) => void): void };
    const write1 = raw._write.bind(stream);
    const writev = raw._writev.bind(stream);
    raw._write = (c, e, cb) => {
      keep(c);
      write1(c, e, cb);
    };
    raw._writev = (cs, cb) => {
      for (const c of cs) keep(c.chunk);
      writev(cs, cb);
    };
    stream.write(header);
    let failure: Error | undefined;
    stream.on('error', (err) => {
      failure = err;
    });
    const closed = new Promise<void>((resolve, reject) => {
      stream.once('close', () => (failure ? reject(failure) : resolve()));
      stream.once('error', reject);
    });
    closed.catch(() => {});
    const commit = async (): Promise<QueuedMail> => {
      if (!stream.writableEnded) stream.end();
      await closed;
      const size = stream.bytesWritten - headerBytes;
      await rename(tmp, this.path('messages', id));
      if (this.opts.fsync) await this.messagesSync.sync();
      const mail: QueuedMail = { envelope, state: initialState(envelope), headerBytes, size, content: scanner.facts };
      this.mails.set(id, mail);
      if (kept && seen - headerBytes === size && this.freshBytes + size <= FRESH_MAX_TOTAL) {
        this.fresh.set(id, kept.length === 1 ? kept[0] : Buffer.concat(kept, size));
        this.freshBytes += size;
      }
      kept = undefined;
      this.onCommitted(mail);
      return mail;
    };
    const abort = async (): Promise<void> => {
      if (!stream.destroyed) stream.destroy();
      await closed.catch(() => {});
      await rm(tmp, { force: true });
    };
    return { id, stream, commit, abort };
  }

  /**
   * A scratch file for a mail being received, read by intake checks before the mail is queued. Not
   * fsynced (the queued copy is); in incoming/, so recovery removes what a crash left of it.
   */
  scratch(id: string): Scratch {
    const path = join(this.dir, 'incoming', `${id}.data`);
    const stream = createWriteStream(path, { flags: 'wx', mode: 0o600, highWaterMark: 256 * 1024 });
    return {
      path,
      stream,
      remove: async () => {
        if (!stream.closed) stream.destroy();
        await rm(path, { force: true });
      },
    };
  }

  get(id: string): QueuedMail | undefined {
    return this.mails.get(id);
  }

  list(): QueuedMail[] {
    return [...this.mails.values()];
  }

  get size(): number {
    return this.mails.size;
  }

  /** The file holding a queued message (for a delivery thread that reads it itself). */
  messageFile(id: string): string {
    return this.path('messages', id);
  }

  private takeFresh(id: string): Buffer | undefined {
    const buf = this.fresh.get(id);
    if (buf) {
      this.fresh.delete(id);
      this.freshBytes -= buf.length;
    }
    return buf;
  }

  /** The message content (without the queue header line), as received; from memory the first time after intake. */
  content(mail: QueuedMail): Readable {
    const fresh = this.takeFresh(mail.envelope.id);
    if (fresh) return Readable.from([fresh], { objectMode: false });
    // buffers sized to the message: a 256 KiB buffer for every 2 KiB mail is most of delivery's garbage
    const highWaterMark = Math.min(256 * 1024, Math.max(16 * 1024, mail.size + 1));
    return createReadStream(this.path('messages', mail.envelope.id), { start: mail.headerBytes, highWaterMark });
  }

  /** Persists a mail's delivery state atomically (tmp, fsync, rename, directory fsync). */
  async saveState(id: string, state: MailState): Promise<void> {
    const mail = this.mails.get(id);
    if (!mail) throw new Error(`no queued mail ${id}`);
    const final = this.statePath(id);
    const tmp = `${final}.tmp`;
    const fh = await open(tmp, 'w', 0o600);
    try {
      await fh.writeFile(JSON.stringify(state));
      if (this.opts.fsync) await fh.sync();
    } finally {
      await fh.close();
    }
    await rename(tmp, final);
    this.withState.add(id);
    if (this.opts.fsync) await this.stateSync.sync();
    mail.state = state;
  }

  /** Removes a mail whose every recipient is done (or that an operator removed). */
  async remove(id: string): Promise<boolean> {
    const had = this.mails.delete(id);
    this.takeFresh(id);
    await unlink(this.path('messages', id)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    if (this.withState.delete(id)) await rm(this.statePath(id), { force: true });
    return had;
  }
}
