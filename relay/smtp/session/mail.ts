// onMailFrom: room in the queue, sessions that may not send any more mail.
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import type { Relay } from '../../runtime.ts';
import { Replies } from '../replies.ts';
import { Refusal } from './once.ts';
import { transaction } from './transaction.ts';

export function onMailFrom(relay: Relay, listener: string) {
  return async (address: SMTPServerAddress, session: SMTPServerSession): Promise<void> => {
    if (relay.draining) throw new Refusal(Replies.shuttingDown, 'draining');
    if (!(await relay.queue.hasRoom())) {
      relay.metrics.refused.inc({ listener, reason: 'queue-full' });
      relay.log.warn({ listener, client: session.remoteAddress }, 'queue filesystem low on space; refusing mail');
      throw new Refusal(Replies.queueFull, 'queue-full');
    }
    if (session.transaction > relay.snapshot.config.limits.maxMessagesPerSession) {
      throw new Refusal(Replies.tooManyMessages, 'session-messages');
    }
    transaction(session, true);
    void address;
  };
}
