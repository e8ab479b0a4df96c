// Outbound connections, reused across mails and limited in number: at most `perDestination` open to one
// destination and `total` open in all. An idle connection waits `idleMs` for the next mail to its
// destination; when the total is reached and another destination is waiting, idle ones make room.
// A destination's connections may differ in kind (`variant`, e.g. the TLS policy they were opened
// under): they count together against its limit, but a mail only reuses one of its own kind. A
// destination that is paused (`gate`) gets no connection: waiters and newcomers are refused with the
// gate's error at once, rather than held while the pause lasts. Generic over the connection so the
// limits are unit-tested without sockets.

export interface Pooled {
  /** False once the peer closed it or an error ended it: never handed out again. */
  readonly alive: boolean;
  close(): void;
}

export interface PoolLimits {
  total: number;
  /** For the destination asked about: its current window (feedback.ts) within the configured cap. */
  perDestination: number;
  idleMs: number;
}

interface Idle<C> {
  conn: C;
  variant: string;
  timer: NodeJS.Timeout;
}

interface Destination<C> {
  open: number;
  idle: Idle<C>[];
  waiters: (() => void)[];
}

export class ConnectionPool<C extends Pooled> {
  private readonly dests = new Map<string, Destination<C>>();
  private totalOpen = 0;
  private readonly limits: (dest: string) => PoolLimits;
  private readonly gate: (dest: string) => Error | undefined;
  private closed = false;

  /**
   * Limits are read at every decision, so a config reload or a change of a destination's window applies
   * to the next acquire. `gate` says whether a destination is paused (the error to refuse with).
   */
  constructor(limits: (dest: string) => PoolLimits, gate: (dest: string) => Error | undefined = () => undefined) {
    this.limits = limits;
    this.gate = gate;
  }

  get open(): number {
    return this.totalOpen;
  }

  /** Connections open to one destination, idle or in use. */
  openTo(dest: string): number {
    return this.dests.get(dest)?.open ?? 0;
  }

  private dest(key: string): Destination<C> {
    let d = this.dests.get(key);
    if (!d) {
      d = { open: 0, idle: [], waiters: [] };
      this.dests.set(key, d);
    }
    return d;
  }

  /**
   * An idle connection of `variant` to `dest`, or a new one from `create` when the limits allow, else
   * waits its turn. Throws what `create` throws (the slot is given back first), or the gate's error.
   */
  async acquire(dest: string, create: () => Promise<C>, variant = ''): Promise<C> {
    for (;;) {
      if (this.closed) throw new Error('connection pool closed');
      const paused = this.gate(dest);
      if (paused) throw paused;
      const d = this.dest(dest);
      const reused = this.takeIdle(d, variant);
      if (reused) return reused;
      const lim = this.limits(dest);
      // at the destination's limit with an idle connection of another kind: that one makes room
      if (d.open >= lim.perDestination) this.closeIdle(d, 1);
      if (d.open < lim.perDestination && (this.totalOpen < lim.total || this.evictIdleElsewhere(dest))) {
        d.open++;
        this.totalOpen++;
        try {
          return await create();
        } catch (err) {
          this.forget(dest);
          throw err;
        }
      }
      await new Promise<void>((resolve) => d.waiters.push(resolve));
    }
  }

  private takeIdle(d: Destination<C>, variant: string): C | undefined {
    for (let i = d.idle.length - 1; i >= 0; i--) {
      const { conn, timer } = d.idle[i];
      if (conn.alive && d.idle[i].variant !== variant) continue;
      d.idle.splice(i, 1);
      clearTimeout(timer);
      if (conn.alive) return conn;
      this.discount(d);
    }
    return undefined;
  }

  /** Closes up to `n` idle connections of a destination (oldest first). */
  private closeIdle(d: Destination<C>, n = Infinity): void {
    for (let i = 0; i < n && d.idle.length; i++) {
      const { conn, timer } = d.idle.shift()!;
      clearTimeout(timer);
      conn.close();
      this.discount(d);
    }
  }

  /** Closes one idle connection of another destination to free a slot under the total limit. */
  private evictIdleElsewhere(key: string): boolean {
    for (const [k, d] of this.dests) {
      if (k === key || !d.idle.length) continue;
      this.closeIdle(d, 1);
      return true;
    }
    return false;
  }

  /** Gives a connection back: kept for reuse when `reusable` (and its destination is not paused), else closed. */
  release(dest: string, conn: C, reusable: boolean, variant = ''): void {
    const d = this.dest(dest);
    if (!reusable || !conn.alive || this.closed || this.gate(dest)) {
      conn.close();
      this.forget(dest);
      return;
    }
    const lim = this.limits(dest);
    // someone else waits for a slot we hold idle: let them have it rather than keep this connection
    if (!d.waiters.length && this.totalOpen >= lim.total && this.someoneElseWaits(dest)) {
      conn.close();
      this.forget(dest);
      return;
    }
    // the destination's window shrank below what is open: this one closes instead of idling
    if (d.open > lim.perDestination) {
      conn.close();
      this.forget(dest);
      return;
    }
    const idle: Idle<C> = {
      conn,
      variant,
      timer: setTimeout(() => {
        const i = d.idle.indexOf(idle);
        if (i >= 0) d.idle.splice(i, 1);
        conn.close();
        this.forget(dest);
      }, lim.idleMs),
    };
    idle.timer.unref();
    d.idle.push(idle);
    d.waiters.shift()?.();
  }

  /**
   * Something changed for a destination (its window opened, or it was paused): every waiter looks again.
   * A paused destination's idle connections are closed: it asked for fewer.
   */
  wake(dest: string): void {
    const d = this.dests.get(dest);
    if (!d) return;
    if (this.gate(dest)) this.closeIdle(d);
    for (const w of d.waiters.splice(0)) w();
    if (d.open === 0 && !d.waiters.length) this.dests.delete(dest);
  }

  private someoneElseWaits(key: string): boolean {
    for (const [k, d] of this.dests) if (k !== key && d.waiters.length) return true;
    return false;
  }

  private discount(d: Destination<C>): void {
    d.open--;
    this.totalOpen--;
  }

  /** A connection of `key` is gone: wake whoever may now open one (same destination first). */
  private forget(key: string): void {
    const d = this.dest(key);
    this.discount(d);
    const wake = d.waiters.shift() ?? [...this.dests.values()].find((o) => o.waiters.length)?.waiters.shift();
    wake?.();
    if (d.open === 0 && !d.waiters.length) this.dests.delete(key);
  }

  /** Closes idle connections and refuses new work; connections in use close when released. */
  close(): void {
    this.closed = true;
    for (const d of this.dests.values()) {
      this.closeIdle(d);
      for (const w of d.waiters.splice(0)) w();
    }
  }
}
