// Retry timing: exponential from 1 minute, capped at 1 hour, with ±10% jitter so a burst of deferred
// mail does not retry in lockstep (Postfix: minimal_backoff_time 300s, maximal 4000s; OpenSMTPD similar).
export const MIN_BACKOFF_MS = 60_000;
export const MAX_BACKOFF_MS = 3_600_000;

export function backoffMs(attempts: number, random = Math.random): number {
  const base = Math.min(MAX_BACKOFF_MS, MIN_BACKOFF_MS * 2 ** Math.max(0, attempts - 1));
  return Math.round(base * (0.9 + 0.2 * random()));
}
