// A key-based work queue: a key waits at most once (bursts coalesce), is never processed by two workers
// at once (a key that changes while in flight is processed again afterwards), failures back off per
// key (exponential with a cap), and a reconcile can ask to be run again later (certificate renewal).
export interface WorkQueueOptions {
  baseDelayMs: number;
  maxDelayMs: number;
  /** Extra wait before a newly added key is handed out, to coalesce a burst of events. */
  coalesceMs: number;
}

export type Reconcile = (key: string) => Promise<{ requeueAfterMs?: number } | void>;

export class WorkQueue {
  private readonly opts: WorkQueueOptions;
  private readonly queue: string[] = [];
  private readonly queued = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly dirty = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Map<string, { timer: NodeJS.Timeout; due: number }>();
  private waiters: (() => void)[] = [];
  private stopped = false;

  constructor(opts: Partial<WorkQueueOptions> = {}) {
    this.opts = { baseDelayMs: 200, maxDelayMs: 60_000, coalesceMs: 50, ...opts };
  }

  get length(): number {
    return this.queue.length;
  }

  /** Nothing waiting, nothing in flight, nothing due within the next two seconds (renewals may be far off). */
  get idle(): boolean {
    const soon = Date.now() + 2000;
    return !this.queue.length && !this.processing.size && ![...this.timers.values()].some((t) => t.due <= soon);
  }

  /** Adds a key now (after the coalescing delay); a key already waiting is not added twice. */
  add(key: string): void {
    this.addAfter(key, this.opts.coalesceMs);
  }

  addAfter(key: string, ms: number): void {
    if (this.stopped) return;
    if (ms <= 0) return this.enqueue(key);
    const existing = this.timers.get(key);
    if (existing && existing.due <= Date.now() + ms) return; // an earlier turn is already due: coalesced
    if (existing) clearTimeout(existing.timer);
    const timer = setTimeout(() => {
      this.timers.delete(key);
      this.enqueue(key);
    }, ms);
    timer.unref();
    this.timers.set(key, { timer, due: Date.now() + ms });
  }

  private enqueue(key: string): void {
    if (this.processing.has(key)) {
      this.dirty.add(key);
      return;
    }
    if (this.queued.has(key)) return;
    this.queued.add(key);
    this.queue.push(key);
    const w = this.waiters.shift();
    if (w) w();
  }

  private async next(): Promise<string | undefined> {
    while (!this.queue.length) {
      if (this.stopped) return undefined;
      await new Promise<void>((r) => this.waiters.push(r));
    }
    const key = this.queue.shift()!;
    this.queued.delete(key);
    this.processing.add(key);
    return key;
  }

  private done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.delete(key)) this.enqueue(key);
  }

  backoffMs(key: string): number {
    const n = this.failures.get(key) ?? 0;
    return Math.min(this.opts.maxDelayMs, this.opts.baseDelayMs * 2 ** n);
  }

  /** Runs `workers` loops until stop(). */
  async run(reconcile: Reconcile, workers = 2, onError: (key: string, err: Error) => void = () => {}): Promise<void> {
    const loop = async () => {
      for (;;) {
        const key = await this.next();
        if (key === undefined) return;
        try {
          const r = await reconcile(key);
          this.failures.delete(key);
          if (r?.requeueAfterMs !== undefined) this.addAfter(key, r.requeueAfterMs);
        } catch (err) {
          const delay = this.backoffMs(key);
          this.failures.set(key, (this.failures.get(key) ?? 0) + 1);
          onError(key, err as Error);
          this.addAfter(key, delay);
        } finally {
          this.done(key);
        }
      }
    };
    await Promise.all(Array.from({ length: workers }, loop));
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t.timer);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w();
  }
}
