// Per-transaction state the hooks share: the delivery targets each accepted RCPT resolved to.
import type { SMTPServerSession } from 'smtp-server';
import type { EnvelopeRecipient } from '../../queue/envelope.ts';

export interface Transaction {
  recipients: EnvelopeRecipient[];
  /** Routes already planned, so duplicates (two RCPTs expanding to one mailbox) collapse to one delivery. */
  routes: Map<string, EnvelopeRecipient>;
}

const transactions = new WeakMap<SMTPServerSession, Transaction>();

/** The current transaction of a session; `fresh` starts a new one (MAIL FROM). */
export function transaction(session: SMTPServerSession, fresh = false): Transaction {
  let t = transactions.get(session);
  if (!t || fresh) {
    t = { recipients: [], routes: new Map() };
    transactions.set(session, t);
  }
  return t;
}
