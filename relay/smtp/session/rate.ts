// A rate-limit refusal as the session answers it: the reply names the limit and when it resets, the
// refusal is counted every time and logged once per window (a client hammering a limit writes one line).
import type { ListenerRuntime, Relay } from '../../runtime.ts';
import type { RateRefusal, RateScope } from '../../limits/rates.ts';
import { Replies, type SmtpReply } from '../../protocol/replies.ts';
import { Refusal } from './once.ts';

const BASE: Record<RateRefusal['limit'], SmtpReply> = {
  'client-connections': Replies.rateConnections,
  'client-messages': Replies.rateMessages,
  'sender-messages': Replies.rateMessages,
  'sender-recipients': Replies.rateRecipients,
};

// a user name or domain goes into a reply line: nothing but printable ASCII, and not too much of it
function printable(s: string): string {
  const t = s.replace(/[^\x21-\x7e ]/g, '?');
  return t.length > 100 ? `${t.slice(0, 100)}…` : t;
}

/** The reply for a refusal, e.g. `450 4.7.1 Too many messages from user max (10 per 3600 s); try again in 3412 s`. */
export function rateReply(r: RateRefusal): SmtpReply {
  const base = BASE[r.limit];
  const wait = Math.max(1, Math.ceil(r.resetInMs / 1000));
  return { ...base, text: `${base.text} ${printable(r.who)} (limit ${r.max} per ${r.windowSeconds} s); try again in ${wait} s` };
}

/** Throws the refusal's reply when there is one; the hooks call it with their limiter's answer. */
export function enforceRate(relay: Relay, listener: string, client: string, refusal: RateRefusal | undefined): void {
  if (!refusal) return;
  const reason = `rate-${refusal.limit}`;
  relay.metrics.refused.inc({ listener, reason });
  if (refusal.firstInWindow) {
    relay.log.warn(
      { listener, client, limit: refusal.limit, who: refusal.who, max: refusal.max, windowSeconds: refusal.windowSeconds, resetInSeconds: Math.ceil(refusal.resetInMs / 1000) },
      'rate limit reached; refusing until the window resets (logged once per window)',
    );
  }
  throw new Refusal(rateReply(refusal), reason);
}

/** The limiter's view of a listener, read at each call (a reload replaces the listener's config). */
export function rateScope(lr: ListenerRuntime): RateScope {
  return { name: lr.name, rates: lr.cfg.rates };
}
