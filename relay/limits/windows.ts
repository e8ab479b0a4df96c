// Fixed-window counters with a bounded table. A window opens at a key's first hit and resets windowMs
// later, so a refusal can say exactly when it ends. The table is a Map in window-opening order (a window
// that resets is re-inserted at the end): expired windows are dropped from the front as new ones open,
// and when the table is full the oldest window is forgotten, so a flood of distinct keys (addresses,
// sender domains) costs a fixed amount of memory. Forgetting a window only ever errs towards admitting.

export interface Window {
  count: number;
  /** When the window ends (ms since the epoch). */
  resetAt: number;
  /** Whether a refusal in this window was logged already (logged once per window, not per command). */
  logged: boolean;
}

export class WindowTable {
  private readonly map = new Map<string, Window>();
  private readonly max: () => number;
  /** Windows forgotten because the table was full, since start. */
  evicted = 0;

  /** `max` is read at each new window, so a config reload applies at once. */
  constructor(max: () => number) {
    this.max = max;
  }

  /** The key's current window, opened now when it has none or its last one ended. */
  window(key: string, now: number, windowMs: number): Window {
    const w = this.map.get(key);
    if (w && now < w.resetAt) return w;
    if (w) this.map.delete(key);
    this.dropExpired(now);
    for (const max = this.max(); this.map.size >= max; this.evicted++) this.map.delete(this.map.keys().next().value!);
    const fresh: Window = { count: 0, resetAt: now + windowMs, logged: false };
    this.map.set(key, fresh);
    return fresh;
  }

  /** Drops ended windows from the front; a bounded amount of work per call. */
  private dropExpired(now: number): void {
    let n = 0;
    for (const [k, w] of this.map) {
      if (w.resetAt > now || n++ >= 64) return;
      this.map.delete(k);
    }
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}
