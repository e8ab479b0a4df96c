// The connections of the SMTP agent, per destination and politely: the pool (pool.ts) opens at most the
// destination's current window (feedback.ts), a destination that answered 421 or took no connection is
// paused, and the mails waiting for one of its connections are postponed at once rather than held.
import type { OutboundConfig } from '../../config/schema.ts';
import type { Logger } from '../../ops/log.ts';
import { DestinationFeedback, type Cause, type Pause } from './feedback.ts';
import { ConnectionPool, type Pooled } from './pool.ts';
import { Paused } from './waits.ts';

/** No host of a destination took a session: `create` throws this to have the destination throttled. */
export class Unreachable extends Error {
  readonly why: Cause;
  constructor(message: string, why: Cause) {
    super(message);
    this.why = why;
  }
}

export class DestinationConnections<C extends Pooled> {
  private readonly feedback: DestinationFeedback;
  private readonly pool: ConnectionPool<C>;

  /** `outbound` is read at every decision, so a reload applies to the next connection. */
  constructor(outbound: () => OutboundConfig) {
    this.feedback = new DestinationFeedback(() => {
      const { concurrency, retry } = outbound();
      return { perDestination: concurrency.perDestination, initialPerDestination: concurrency.initialPerDestination, minMs: retry.minSeconds * 1000, maxMs: retry.maxSeconds * 1000 };
    });
    this.pool = new ConnectionPool(
      (dest) => ({ total: outbound().concurrency.total, perDestination: this.feedback.window(dest), idleMs: outbound().idleSeconds * 1000 }),
      (dest) => {
        const pause = this.feedback.paused(dest);
        return pause && new Paused(dest, pause);
      },
    );
  }

  /**
   * A connection to `dest` (reused or new); throws `Paused` while the destination is paused. When
   * `create` throws `Unreachable`, the destination is throttled before its slot is given back, so the
   * mail woken for that slot already finds it paused instead of trying once more.
   */
  acquire(dest: string, create: () => Promise<C>, variant: string, log: Logger): Promise<C> {
    return this.pool.acquire(
      dest,
      () =>
        create().catch((err: unknown) => {
          if (err instanceof Unreachable) this.throttle(dest, err.why, log);
          throw err;
        }),
      variant,
    );
  }

  release(dest: string, conn: C, reusable: boolean, variant: string): void {
    this.pool.release(dest, conn, reusable, variant);
  }

  /** Positive feedback: the destination answered a whole transaction; its window may open by one. */
  wentWell(dest: string): void {
    if (this.feedback.success(dest)) this.pool.wake(dest);
  }

  /** Negative feedback (a 421, no connection): fewer connections and a pause; waiters are told at once. */
  throttle(dest: string, cause: Cause, log: Logger): Pause {
    const already = this.feedback.paused(dest);
    const pause = this.feedback.failure(dest, cause);
    if (!already) {
      log.warn({ destination: dest, until: new Date(pause.until).toISOString(), window: this.feedback.window(dest), after: cause.after }, 'destination throttled: no new connection until the pause ends');
      this.pool.wake(dest);
    }
    return pause;
  }

  paused(dest: string): Pause | undefined {
    return this.feedback.paused(dest);
  }

  /** Ends every pause (`kubemta queue flush`). */
  resume(): void {
    this.feedback.resume();
  }

  close(): void {
    this.pool.close();
  }
}
