// Limits AUTH guessing per client address and per user name. An attempt counts from the moment it is
// admitted, not from when its (slow, ~100 ms bcrypt) verification fails: counting only failures let
// parallel connections all pass the check before the first one had failed (39 wrong passwords, then the
// right one, inside one window). So an attempt takes a slot first; failures in the window plus attempts
// in flight must stay below the limit, else the attempt is refused before any hashing.
//
// A per-user limit also stops guessing spread over many addresses, at a price: anyone can keep a known
// user name refused by failing on it. Successes do not reset a count, or one valid account would let
// a client go on guessing others.

export interface AuthLimits {
  perClient: number;
  perUser: number;
  windowMs: number;
}

interface Count {
  failures: number;
  inFlight: number;
  /** When the window of `failures` began. */
  since: number;
}

/** An admitted attempt: call end() once, with whether the credentials were right. */
export interface AuthAttempt {
  end(ok: boolean): void;
}

export type AuthRefusal = 'client' | 'user';

// Entries only grow with distinct clients and user names; expired ones are swept past this many.
const SWEEP_AT = 10_000;

class Counts {
  private readonly map = new Map<string, Count>();

  /** The live count for key (an expired window is dropped). */
  private current(key: string, now: number, windowMs: number): Count | undefined {
    const c = this.map.get(key);
    if (c && c.failures > 0 && now - c.since > windowMs) {
      c.failures = 0;
      if (c.inFlight === 0) {
        this.map.delete(key);
        return undefined;
      }
    }
    return c;
  }

  used(key: string, now: number, windowMs: number): number {
    const c = this.current(key, now, windowMs);
    return c ? c.failures + c.inFlight : 0;
  }

  take(key: string, now: number, windowMs: number): Count {
    if (this.map.size >= SWEEP_AT) this.sweep(now, windowMs);
    let c = this.map.get(key);
    if (!c) this.map.set(key, (c = { failures: 0, inFlight: 0, since: now }));
    c.inFlight++;
    return c;
  }

  settle(key: string, c: Count, failed: boolean, now: number): void {
    c.inFlight--;
    if (failed) {
      if (c.failures === 0) c.since = now;
      c.failures++;
    }
    if (c.failures === 0 && c.inFlight === 0 && this.map.get(key) === c) this.map.delete(key);
  }

  private sweep(now: number, windowMs: number): void {
    for (const [k, c] of this.map) if (c.inFlight === 0 && now - c.since > windowMs) this.map.delete(k);
  }

  get size(): number {
    return this.map.size;
  }

  clear(): void {
    this.map.clear();
  }
}

export class AuthLimiter {
  private readonly clients = new Counts();
  private readonly users = new Counts();
  private readonly limits: () => AuthLimits;

  /** `limits` is read at each attempt, so a config reload applies at once. */
  constructor(limits: () => AuthLimits) {
    this.limits = limits;
  }

  /** Admits an attempt (taking a slot per client and per user), or names the limit that refuses it. */
  begin(client: string, user: string, now = Date.now()): AuthAttempt | AuthRefusal {
    const l = this.limits();
    if (this.clients.used(client, now, l.windowMs) >= l.perClient) return 'client';
    if (this.users.used(user, now, l.windowMs) >= l.perUser) return 'user';
    const c = this.clients.take(client, now, l.windowMs);
    const u = this.users.take(user, now, l.windowMs);
    let ended = false;
    return {
      end: (ok: boolean) => {
        if (ended) return;
        ended = true;
        const t = Date.now();
        this.clients.settle(client, c, !ok, t);
        this.users.settle(user, u, !ok, t);
      },
    };
  }

  /** Entries held (clients, users), for tests of the sweep. */
  get entries(): { clients: number; users: number } {
    return { clients: this.clients.size, users: this.users.size };
  }

  clear(): void {
    this.clients.clear();
    this.users.clear();
  }
}
