// Outbound connections, reused across mails and limited in number: at most `perDestination` open to one
// destination and `total` open in all. An idle connection waits `idleMs` for the next mail to its
// destination; when the total is reached and another destination is waiting, idle ones make room.
// Generic over the connection so the limits are unit-tested without sockets.

export interface Pooled {
  /** False once the peer closed it or an error ended it: never handed out again. */
  readonly alive: boolean;
  close(): void;
}

export interface PoolLimits {
  total: number;
  perDestination: number;
  idleMs: number;
}

interface Idle<C> {
  conn: C;
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
  private readonly limits: () => PoolLimits;
  private closed = false;

  /** Limits are read at every decision, so a config reload applies to the next acquire. */
  constructor(limits: () => PoolLimits) {
    this.limits = limits;
  }

  get open(): number {
    return this.totalOpen;
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
   * An idle connection to `key`, or a new one from `create` when the limits allow, else waits its turn.
   * Throws what `create` throws (the slot is given back first).
   */
  async acquire(key: string, create: () => Promise<C>): Promise<C> {
    for (;;) {
      if (this.closed) throw new Error('connection pool closed');
      const d = this.dest(key);
      const reused = this.takeIdle(d);
      if (reused) return reused;
      const lim = this.limits();
      if (d.open < lim.perDestination && (this.totalOpen < lim.total || this.evictIdleElsewhere(key))) {
        d.open++;
        this.totalOpen++;
        try {
          return await create();
        } catch (err) {
          this.forget(key);
          throw err;
        }
      }
      await new Promise<void>((resolve) => d.waiters.push(resolve));
    }
  }

  private takeIdle(d: Destination<C>): C | undefined {
    while (d.idle.length) {
      const { conn, timer } = d.idle.pop()!;
      clearTimeout(timer);
      if (conn.alive) return conn;
      this.discount(d);
    }
    return undefined;
  }

  /** Closes one idle connection of another destination to free a slot under the total limit. */
  private evictIdleElsewhere(key: string): boolean {
    for (const [k, d] of this.dests) {
      if (k === key || !d.idle.length) continue;
      const { conn, timer } = d.idle.shift()!;
      clearTimeout(timer);
      conn.close();
      this.discount(d);
      return true;
    }
    return false;
  }

  /** Gives a connection back: kept for reuse when `reusable`, else closed. */
  release(key: string, conn: C, reusable: boolean): void {
    const d = this.dest(key);
    if (!reusable || !conn.alive || this.closed) {
      conn.close();
      this.forget(key);
      return;
    }
    const lim = this.limits();
    // someone else waits for a slot we hold idle: let them have it rather than keep this connection
    if (!d.waiters.length && this.totalOpen >= lim.total && this.someoneElseWaits(key)) {
      conn.close();
      this.forget(key);
      return;
    }
    const idle: Idle<C> = {
      conn,
      timer: setTimeout(() => {
        const i = d.idle.indexOf(idle);
        if (i >= 0) d.idle.splice(i, 1);
        conn.close();
        this.forget(key);
      }, lim.idleMs),
    };
    idle.timer.unref();
    d.idle.push(idle);
    d.waiters.shift()?.();
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
      for (const { conn, timer } of d.idle.splice(0)) {
        clearTimeout(timer);
        conn.close();
        this.discount(d);
      }
      for (const w of d.waiters.splice(0)) w();
    }
  }
}
