// What every part of a running relay shares. The snapshot (config, certificates, tables) is replaced as a
// whole on reload; hooks read `relay.snapshot` at each call and so always see one consistent version.
import type { Config, ListenerConfig } from './config/schema.ts';
import type { Tables } from './lookup/tables.ts';
import type { PkiSet } from './smtp/pki.ts';
import type { QueueStore } from './queue/fs.ts';
import type { Logger } from './ops/log.ts';
import type { RelayMetrics } from './ops/metrics.ts';
import type { RecipientPolicy } from './lookup/policy.ts';
import type { AuthLimiter } from './auth/limiter.ts';
import type { RateLimiter } from './limits/rates.ts';

export interface Snapshot {
  config: Config;
  pki: PkiSet;
  tables: Tables;
  policy: RecipientPolicy;
}

export interface Relay {
  snapshot: Snapshot;
  queue: QueueStore;
  log: Logger;
  metrics: RelayMetrics;
  /** AUTH attempts per client address and per user name, for rate limiting. */
  authLimiter: AuthLimiter;
  /** Connections, messages and recipients per client network and per sender (limits.rates). */
  rates: RateLimiter;
  /** Open sessions per client address. */
  clients: Map<string, number>;
  /** Open sessions, all listeners together. */
  sessions: number;
  /** Set on SIGTERM: new sessions and new mail are refused. */
  draining: boolean;
}

/** A listener as its hooks see it: the config is replaced in place when a reload keeps the listener. */
export interface ListenerRuntime {
  name: string;
  cfg: ListenerConfig;
}
