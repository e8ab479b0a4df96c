// onRcptTo: the recipient limit and the policy decision (rules, tables, expansion), made now so that an
// unknown user or a relay attempt is refused at RCPT time and never bounced later (no backscatter).
import type { SMTPServerAddress, SMTPServerSession } from 'smtp-server';
import type { ListenerRuntime, Relay } from '../../runtime.ts';
import { routeKey } from '../../queue/envelope.ts';
import { Replies } from '../../protocol/replies.ts';
import { Refusal } from './once.ts';
import { declaredSmtputf8, isAscii } from './mail.ts';
import { transaction } from './transaction.ts';
import { senderOf } from '../../limits/rates.ts';
import { enforceRate, rateScope } from './rate.ts';

export function onRcptTo(relay: Relay, lr: ListenerRuntime) {
  return async (address: SMTPServerAddress, session: SMTPServerSession): Promise<void> => {
    const listener = lr.name;
    const tag = lr.cfg.tag;
    const { config, policy } = relay.snapshot;
    if (session.envelope.rcptTo.length >= config.limits.maxRecipients) {
      relay.metrics.refused.inc({ listener, reason: 'recipients' });
      throw new Refusal(Replies.tooManyRecipients, 'recipients');
    }
    if (!isAscii(address.address) && !declaredSmtputf8(session)) {
      relay.metrics.refused.inc({ listener, reason: 'smtputf8' });
      throw new Refusal(Replies.needsSmtputf8, 'smtputf8');
    }
    const mailFrom = session.envelope.mailFrom;
    const sender = senderOf(typeof session.user === 'string' ? session.user : undefined, mailFrom ? mailFrom.address : '');
    enforceRate(relay, listener, session.remoteAddress, relay.rates.recipient(rateScope(lr), sender));
    const decision = await policy.decide(
      {
        listener,
        tag,
        user: typeof session.user === 'string' ? session.user : undefined,
        clientAddress: session.remoteAddress,
        from: mailFrom ? mailFrom.address : '',
      },
      address.address,
    );
    if (decision.kind === 'reject') {
      relay.metrics.refused.inc({ listener, reason: `rcpt-${decision.reply.code}` });
      relay.log.info(
        { listener, client: session.remoteAddress, from: mailFrom ? mailFrom.address : '', rcpt: address.address, reply: `${decision.reply.code} ${decision.reply.status}` },
        'recipient refused',
      );
      throw new Refusal(decision.reply, 'rcpt');
    }
    const t = transaction(session);
    for (const route of decision.route) {
      const key = routeKey(route);
      const planned = t.routes.get(key);
      if (planned) {
        // one copy for both; the queue still says which RCPTs it stands for
        if (planned.rcpt !== address.address && !planned.also?.includes(address.address)) (planned.also ??= []).push(address.address);
        continue;
      }
      const recipient = { rcpt: address.address, route };
      t.routes.set(key, recipient);
      t.recipients.push(recipient);
    }
  };
}
