// onAuth: PLAIN and LOGIN against the listener's credentials table. smtp-server only offers AUTH on an
// encrypted session (allowInsecureAuth stays false); attempts are limited per client and per user name
// (relay/auth/limiter.ts: counted before the hash is checked). Neither password nor hash is ever logged.
import type { SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerSession } from 'smtp-server';
import { dummyHash, verifyPassword } from '../../auth/hash.ts';
import type { ListenerRuntime, Relay } from '../../runtime.ts';
import { Replies } from '../../protocol/replies.ts';
import { Refusal } from './once.ts';

export function onAuth(relay: Relay, lr: ListenerRuntime) {
  return async (auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<SMTPServerAuthenticationResponse> => {
    const listener = lr.name;
    const table = lr.cfg.auth ?? '';
    const { tables } = relay.snapshot;
    const addr = session.remoteAddress;
    if (auth.method !== 'PLAIN' && auth.method !== 'LOGIN') throw new Refusal(Replies.authFailed, 'auth-method');
    const users = tables.credentials.get(table);
    if (!users) throw new Refusal(Replies.authUnavailable, 'auth-table');
    const user = auth.username ?? '';
    // a slot is taken before the password is hashed: parallel attempts count while they run
    const attempt = relay.authLimiter.begin(addr, user);
    if (attempt === 'client' || attempt === 'user') {
      const reason = attempt === 'client' ? 'auth-rate' : 'auth-rate-user';
      relay.metrics.refused.inc({ listener, reason });
      relay.log.warn({ listener, client: addr, user, limit: attempt }, 'AUTH refused: too many attempts');
      throw new Refusal(attempt === 'client' ? Replies.tooManyAuthFailures : Replies.tooManyAuthFailuresForUser, reason);
    }
    const hash = users.get(user);
    let ok = false;
    try {
      ok = (await verifyPassword(auth.password ?? '', hash ?? dummyHash())) && hash !== undefined;
    } finally {
      attempt.end(ok);
    }
    if (!ok) {
      relay.metrics.authFailures.inc({ listener });
      relay.log.warn({ listener, client: addr, user }, 'AUTH failed');
      throw new Refusal(Replies.authFailed, 'auth-failed');
    }
    relay.log.info({ listener, client: addr, user }, 'AUTH succeeded');
    return { user };
  };
}
