// Group commit of directory fsyncs: every caller waiting on a directory shares one fsync wave. A caller
// arriving while a wave runs joins the next one (its rename may have missed the running fsync), so no
// commit is acknowledged before an fsync that started after its rename.
import { open } from 'node:fs/promises';

interface Wave {
  promise: Promise<void>;
  resolve: () => void;
  reject: (err: Error) => void;
}

function newWave(): Wave {
  let resolve!: () => void;
  let reject!: (err: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

export class DirSyncer {
  private running = false;
  private next: Wave | undefined;
  /** Fsyncs done, for metrics and tests: under load it is far below the number of commits. */
  waves = 0;
  private readonly dir: string;
  private readonly delayMs: number;

  constructor(dir: string, delayMs = 0) {
    this.dir = dir;
    this.delayMs = delayMs;
  }

  /** Resolves once an fsync of the directory that began after this call has completed. */
  sync(): Promise<void> {
    if (!this.next) this.next = newWave();
    const wave = this.next;
    if (!this.running) void this.run();
    return wave.promise;
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      while (this.next) {
        if (this.delayMs > 0) await new Promise((r) => setTimeout(r, this.delayMs));
        const wave = this.next;
        this.next = undefined;
        try {
          const fh = await open(this.dir, 'r');
          try {
            await fh.sync();
          } finally {
            await fh.close();
          }
          this.waves++;
          wave.resolve();
        } catch (err) {
          wave.reject(err as Error);
        }
      }
    } finally {
      this.running = false;
    }
  }
}
