// How much a destination (a recipient domain or a smarthost) is asked to take: Postfix's per-destination
// concurrency feedback, in short. A destination starts at `initialPerDestination` connections; each cohort
// of transactions that went well (as many as the current window) opens the window by one, up to
// `perDestination`. A 421, or no host of the destination taking a connection, halves the window and
// pauses the destination: no new connection to it until the pause ends (Postfix's "dead destination",
// suspended for minimal_backoff_time; OpenSMTPD disables a route with a growing penalty). Pauses follow
// the retry schedule, doubling with every throttle in a row; a transaction that goes well ends the row.
// Pure (the clock and the random source are passed in), so it is unit-tested without sockets.
import { backoffMs } from '../../scheduler/backoff.ts';

export interface FeedbackLimits {
  perDestination: number;
  initialPerDestination: number;
  /** The pause schedule (outbound.retry). */
  minMs: number;
  maxMs: number;
}

export interface Cause {
  /** The reply or error that throttled the destination, short (`421 4.7.0 too many connections`). */
  after: string;
  /** The same as a delivery detail (diagnostic.ts: `mx.example.net[192.0.2.1] said: 421 …`), for the queue and DSNs. */
  detail: string;
}

export interface Pause extends Cause {
  until: number;
}

interface State {
  window: number;
  /** Positive feedback gathered towards the next window increase (one per cohort). */
  credit: number;
  /** Throttles in a row, without a transaction that went well in between. */
  penalty: number;
  pause?: Pause;
  touched: number;
}

/** A destination unused this long and not paused is forgotten (it starts over at the initial window). */
const FORGET_MS = 600_000;

export class DestinationFeedback {
  private readonly states = new Map<string, State>();
  private readonly limits: () => FeedbackLimits;
  private readonly random: () => number;
  private lastSweep = 0;

  constructor(limits: () => FeedbackLimits, random = Math.random) {
    this.limits = limits;
    this.random = random;
  }

  private state(key: string, now: number): State {
    this.sweep(now);
    let s = this.states.get(key);
    if (!s) {
      s = { window: this.limits().initialPerDestination, credit: 0, penalty: 0, touched: now };
      this.states.set(key, s);
    }
    s.touched = now;
    return s;
  }

  /** Connections the destination may have open now (the config's limits apply at once after a reload). */
  window(key: string): number {
    const l = this.limits();
    const w = this.states.get(key)?.window ?? l.initialPerDestination;
    return Math.max(1, Math.min(w, l.perDestination));
  }

  /** The pause the destination is in at `now`, if any. */
  paused(key: string, now = Date.now()): Pause | undefined {
    const p = this.states.get(key)?.pause;
    return p && p.until > now ? p : undefined;
  }

  /** A transaction went through (whatever the replies to its recipients): true when the window grew. */
  success(key: string, now = Date.now()): boolean {
    const s = this.state(key, now);
    s.penalty = 0;
    const before = this.window(key);
    if (before >= this.limits().perDestination) return false;
    s.credit += 1 / before;
    if (s.credit < 1 - 1e-9) return false;
    s.credit = 0;
    s.window = before + 1;
    return true;
  }

  /** A 421, or no host took a connection: halves the window and pauses the destination; returns the pause. */
  failure(key: string, cause: Cause, now = Date.now()): Pause {
    const s = this.state(key, now);
    const current = this.paused(key, now);
    // connections in flight when the pause began report it too: one throttle, not one per connection
    if (current) return current;
    s.penalty++;
    s.window = Math.max(1, Math.floor(this.window(key) / 2));
    s.credit = 0;
    const l = this.limits();
    s.pause = { until: now + backoffMs(s.penalty, this.random, { minMs: l.minMs, maxMs: l.maxMs }), ...cause };
    return s.pause;
  }

  /** Ends every pause (an operator's `kubemta queue flush`, like Postfix's flush of dead destinations). */
  resume(): void {
    for (const s of this.states.values()) s.pause = undefined;
  }

  private sweep(now: number): void {
    if (now - this.lastSweep < FORGET_MS / 10) return;
    this.lastSweep = now;
    for (const [key, s] of this.states) if (now - s.touched > FORGET_MS && !(s.pause && s.pause.until > now)) this.states.delete(key);
  }
}
