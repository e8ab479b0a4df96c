// What happens to a recipient after a temporary failure: retry after the backoff, but never later than
// the end of the queue lifetime, and once that is reached, fail for good (4.4.7) so the sender hears of
// it. The last attempt is made at the deadline itself, so a mail gets its full lifetime. A delivery agent
// may ask for a later time (`notBefore`: its destination is paused, or the server greylists).
import type { OutboundConfig } from '../config/schema.ts';
import { backoffMs } from './backoff.ts';

export type Deferral = { kind: 'retry'; at: number } | { kind: 'expire'; detail: string };

export function afterDeferral(o: Pick<OutboundConfig, 'retry' | 'queueLifetimeSeconds'>, receivedAt: number, attempts: number, lastError: string, now: number, notBefore = 0, random = Math.random): Deferral {
  const deadline = receivedAt + o.queueLifetimeSeconds * 1000;
  if (now >= deadline) {
    return { kind: 'expire', detail: `4.4.7 delivery time expired after ${attempts} attempt(s) in ${formatAge(now - receivedAt)}; last error: ${lastError}` };
  }
  const wait = backoffMs(attempts, random, { minMs: o.retry.minSeconds * 1000, maxMs: o.retry.maxSeconds * 1000 });
  return { kind: 'retry', at: Math.min(Math.max(now + wait, notBefore), deadline) };
}

/** Whether a "delayed" DSN is due: warnings configured, not sent yet, and the mail is old enough. */
export function delayWarningDue(o: Pick<OutboundConfig, 'delayWarningSeconds'>, receivedAt: number, alreadyWarned: boolean, now: number): boolean {
  return o.delayWarningSeconds !== undefined && !alreadyWarned && now - receivedAt >= o.delayWarningSeconds * 1000;
}

export function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  if (s < 172800) return `${Math.round(s / 3600)}h`;
  return `${Math.round(s / 86400)}d`;
}
