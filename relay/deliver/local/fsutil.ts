// File steps both mailbox formats take: writing a whole buffer (a short write, e.g. on a nearly full disk,
// is continued until the disk says ENOSPC), chunks grouped into large writes, group-committed directory
// fsyncs.
import type { FileHandle } from 'node:fs/promises';
import { DirSyncer } from '../../queue/dirsync.ts';

export async function writeAll(fh: FileHandle, buf: Buffer): Promise<void> {
  for (let off = 0; off < buf.length; ) {
    const { bytesWritten } = await fh.write(buf, off, buf.length - off);
    off += bytesWritten;
  }
}

/** Writes every chunk, in writes of about `batch` bytes; returns the bytes written. */
export async function writeChunks(fh: FileHandle, chunks: AsyncIterable<Buffer>, batch = 256 * 1024): Promise<number> {
  let pending: Buffer[] = [];
  let size = 0;
  let total = 0;
  for await (const chunk of chunks) {
    pending.push(chunk);
    size += chunk.length;
    if (size >= batch) {
      await writeAll(fh, Buffer.concat(pending, size));
      total += size;
      pending = [];
      size = 0;
    }
  }
  if (size) await writeAll(fh, pending.length === 1 ? pending[0] : Buffer.concat(pending, size));
  return total + size;
}

/** One group-committing DirSyncer per directory (a mailbox's `new/`, the mbox directory). */
export class DirSyncers {
  private readonly byDir = new Map<string, DirSyncer>();

  sync(dir: string): Promise<void> {
    let s = this.byDir.get(dir);
    if (!s) this.byDir.set(dir, (s = new DirSyncer(dir)));
    return s.sync();
  }
}
