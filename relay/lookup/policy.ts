// Who may send to whom: the decision at RCPT time. The rules engine (ordered smtpd.conf-style rules with
// tables and expansion) implements this interface; until a config has rules, the core policy applies:
// authenticated sessions may relay anywhere, everyone else nowhere. Never an open relay.
import type { RecipientRoute } from '../queue/envelope.ts';
import { Replies, type SmtpReply } from '../protocol/replies.ts';

export interface RecipientContext {
  listener: string;
  tag?: string;
  user?: string;
  clientAddress: string;
  from: string;
}

export type RecipientDecision = { kind: 'accept'; route: RecipientRoute[] } | { kind: 'reject'; reply: SmtpReply };

export interface RecipientPolicy {
  decide(ctx: RecipientContext, address: string): Promise<RecipientDecision> | RecipientDecision;
}

export const authenticatedRelayPolicy: RecipientPolicy = {
  decide(ctx, address) {
    if (ctx.user) return { kind: 'accept', route: [{ kind: 'relay', address }] };
    return { kind: 'reject', reply: Replies.relayDenied };
  },
};
