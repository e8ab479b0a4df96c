// onMailFrom: room in the queue, sessions that may not send any more mail.
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import type { ListenerRuntime, Relay } from '../../runtime.ts';
import { Replies } from '../../protocol/replies.ts';
import { senderOf } from '../../limits/rates.ts';
import { Refusal } from './once.ts';
import { transaction } from './transaction.ts';
import { enforceRate, rateScope } from './rate.ts';

export function onMailFrom(relay: Relay, lr: ListenerRuntime) {
  return async (address: SMTPServerAddress, session: SMTPServerSession): Promise<void> => {
    const listener = lr.name;
    if (relay.draining) throw new Refusal(Replies.shuttingDown, 'draining');
    if (!(await relay.queue.hasRoom())) {
      relay.metrics.refused.inc({ listener, reason: 'queue-full' });
      relay.log.warn({ listener, client: session.remoteAddress }, 'queue filesystem low on space; refusing mail');
      throw new Refusal(Replies.queueFull, 'queue-full');
    }
    if (session.transaction > relay.snapshot.config.limits.maxMessagesPerSession) {
      throw new Refusal(Replies.tooManyMessages, 'session-messages');
    }
    if (!isAscii(address.address) && !hasSmtputf8(address)) {
      throw new Refusal(Replies.needsSmtputf8, 'smtputf8');
    }
    const sender = senderOf(typeof session.user === 'string' ? session.user : undefined, address.address);
    enforceRate(relay, listener, session.remoteAddress, relay.rates.message(rateScope(lr), session.remoteAddress, sender));
    transaction(session, true);
  };
}

export function isAscii(s: string): boolean {
  return /^[\x00-\x7f]*$/.test(s);
}

/** Whether the transaction's MAIL FROM declared SMTPUTF8 (RFC 6531): non-ASCII recipients need it. */
export function declaredSmtputf8(session: SMTPServerSession): boolean {
  const from = session.envelope.mailFrom;
  return !!from && hasSmtputf8(from);
}

function hasSmtputf8(address: SMTPServerAddress): boolean {
  const args = address.args as Record<string, unknown> | false;
  return !!args && !!args.SMTPUTF8;
}
