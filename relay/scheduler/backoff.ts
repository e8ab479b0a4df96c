// Retry timing: exponential from `minMs` (default 1 minute), capped at `maxMs` (default 1 hour), with ±10%
// jitter so a burst of deferred mail does not retry in lockstep (Postfix: minimal_backoff_time 300s,
// maximal 4000s; OpenSMTPD similar). Both come from outbound.retry, so tests run with short delays.
export const MIN_BACKOFF_MS = 60_000;
export const MAX_BACKOFF_MS = 3_600_000;

export interface BackoffLimits {
  minMs: number;
  maxMs: number;
}

export function backoffMs(attempts: number, random = Math.random, limits: BackoffLimits = { minMs: MIN_BACKOFF_MS, maxMs: MAX_BACKOFF_MS }): number {
  const base = Math.min(limits.maxMs, limits.minMs * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.9 + 0.2 * random()));
}
