// onAuth: PLAIN and LOGIN against the listener's credentials table. smtp-server only offers AUTH on an
// encrypted session (allowInsecureAuth stays false); failures are counted per client and past the limit
// the client is cut off for the window. Neither password nor hash is ever logged.
import type { SMTPServerAuthentication, SMTPServerAuthenticationResponse, SMTPServerSession } from 'smtp-server';
import { dummyHash, verifyPassword } from '../../auth/hash.ts';
import type { ListenerRuntime, Relay } from '../../runtime.ts';
import { Replies } from '../replies.ts';
import { Refusal } from './once.ts';

export function onAuth(relay: Relay, lr: ListenerRuntime) {
  return async (auth: SMTPServerAuthentication, session: SMTPServerSession): Promise<SMTPServerAuthenticationResponse> => {
    const listener = lr.name;
    const table = lr.cfg.auth ?? '';
    const { config, tables } = relay.snapshot;
    const limits = config.limits;
    const addr = session.remoteAddress;
    const now = Date.now();
    let f = relay.authFailures.get(addr);
    if (f && now - f.since > limits.authFailureWindowSeconds * 1000) {
      relay.authFailures.delete(addr);
      f = undefined;
    }
    if (f && f.count >= limits.authFailures) {
      relay.metrics.refused.inc({ listener, reason: 'auth-rate' });
      throw new Refusal(Replies.tooManyAuthFailures, 'auth-rate');
    }
    if (auth.method !== 'PLAIN' && auth.method !== 'LOGIN') throw new Refusal(Replies.authFailed, 'auth-method');
    const users = tables.credentials.get(table);
    if (!users) throw new Refusal(Replies.authUnavailable, 'auth-table');
    const user = auth.username ?? '';
    const hash = users.get(user);
    const ok = (await verifyPassword(auth.password ?? '', hash ?? dummyHash())) && hash !== undefined;
    if (!ok) {
      const entry = relay.authFailures.get(addr) ?? { count: 0, since: now };
      entry.count++;
      relay.authFailures.set(addr, entry);
      relay.metrics.authFailures.inc({ listener });
      relay.log.warn({ listener, client: addr, user, failures: entry.count }, 'AUTH failed');
      throw new Refusal(Replies.authFailed, 'auth-failed');
    }
    relay.log.info({ listener, client: addr, user }, 'AUTH succeeded');
    return { user };
  };
}
