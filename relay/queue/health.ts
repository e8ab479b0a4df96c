// Whether the queue can take mail, for /readyz: Kubernetes should stop routing new sessions to a pod
// whose queue is full (below queue.minFreeBytes, or out of inodes) or cannot be written at all (a volume
// remounted read-only after I/O errors, a permission change). The write probe is what finds the second
// kind: statfs cannot tell a read-only mount from Node. Checked at most once a second whatever the
// probe rate; a probe file that a crash leaves behind is in incoming/, which recovery empties.
import { randomBytes } from 'node:crypto';
import { open, rm, statfs } from 'node:fs/promises';
import { join } from 'node:path';

export interface QueueHealth {
  ok: boolean;
  reason?: string;
}

export class QueueHealthCheck {
  private readonly dir: string;
  private readonly minFreeBytes: () => number;
  private last: { at: number; result: Promise<QueueHealth> } | undefined;

  constructor(dir: string, minFreeBytes: () => number) {
    this.dir = dir;
    this.minFreeBytes = minFreeBytes;
  }

  check(now = Date.now()): Promise<QueueHealth> {
    if (!this.last || now - this.last.at >= 1000) this.last = { at: now, result: this.probe() };
    return this.last.result;
  }

  private async probe(): Promise<QueueHealth> {
    try {
      const s = await statfs(this.dir);
      if (s.bavail * s.bsize < this.minFreeBytes()) return { ok: false, reason: `queue full: ${s.bavail * s.bsize} bytes free, the floor is ${this.minFreeBytes()}` };
      if (s.files > 0 && s.ffree === 0) return { ok: false, reason: 'queue full: no free inodes' };
    } catch (err) {
      return { ok: false, reason: `queue unreadable: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
    }
    const file = join(this.dir, 'incoming', `.ready-${randomBytes(6).toString('hex')}`);
    try {
      const fh = await open(file, 'wx', 0o600);
      await fh.close();
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
      return { ok: false, reason: code === 'EROFS' ? 'queue read-only (EROFS)' : `queue not writable (${code})` };
    } finally {
      await rm(file, { force: true }).catch(() => {});
    }
    return { ok: true };
  }
}
