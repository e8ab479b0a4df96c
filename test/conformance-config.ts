// The relay's side of the differential test: the same domain, users and limits as the Postfix instance
// (postfix.ts), so a difference in replies is a difference in SMTP handling, not in policy.
import { baseConfig } from './harness.ts';

export const LIMITS = { maxRecipients: 3, maxMessageBytes: 20000 };

export function differentialConfig(): Record<string, unknown> {
  return baseConfig({
    tables: { users: { type: 'virtual', entries: { 'a@x.test': 'a', 'b@x.test': 'b', 'c@x.test': 'c', 'd@x.test': 'd', 'postmaster@x.test': 'pm' } } },
    actions: { mbox: { type: 'mbox' } },
    rules: [{ from: 'any', for: { domain: 'x.test' }, virtual: 'users', action: 'mbox' }],
    mailStore: 'mail',
    // a session a failing step leaves in DATA must not hold up the relay's stop
    limits: { ...LIMITS, maxLineLength: 2048, shutdownGraceSeconds: 1 },
  });
}

