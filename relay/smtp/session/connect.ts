// onConnect / onClose: session limits in total and per client address, and the drain on shutdown.
import type { SMTPServerSession } from 'smtp-server';
import type { ListenerRuntime, Relay } from '../../runtime.ts';
import { Replies } from '../../protocol/replies.ts';
import { Refusal } from './once.ts';
import { enforceRate, rateScope } from './rate.ts';

export function onConnect(relay: Relay, lr: ListenerRuntime) {
  return async (session: SMTPServerSession): Promise<void> => {
    const listener = lr.name;
    if (relay.draining) throw new Refusal(Replies.shuttingDown, 'draining');
    const limits = relay.snapshot.config.limits;
    const addr = session.remoteAddress;
    // across all listeners: smtp-server's own maxClients counts one listener's sessions only
    if (relay.sessions >= limits.maxConnections) {
      relay.metrics.refused.inc({ listener, reason: 'connections' });
      relay.log.warn({ listener, client: addr, open: relay.sessions }, 'too many sessions in total');
      throw new Refusal(Replies.tooManyConnections, 'connections');
    }
    const open = relay.clients.get(addr) ?? 0;
    if (open >= limits.maxConnectionsPerClient) {
      relay.metrics.refused.inc({ listener, reason: 'client-connections' });
      relay.log.warn({ listener, client: addr, open }, 'too many sessions from one client');
      throw new Refusal(Replies.tooManyFromClient, 'client-connections');
    }
    enforceRate(relay, listener, addr, relay.rates.connection(rateScope(lr), addr));
    relay.clients.set(addr, open + 1);
    relay.sessions++;
    (session as SessionMark).counted = true;
    relay.metrics.connections.inc({ listener });
    relay.metrics.activeSessions.inc({ listener });
  };
}

type SessionMark = SMTPServerSession & { counted?: boolean };

export function onClose(relay: Relay, listener: string) {
  return (session: SMTPServerSession): void => {
    if (!(session as SessionMark).counted) return;
    (session as SessionMark).counted = false;
    const addr = session.remoteAddress;
    const open = (relay.clients.get(addr) ?? 1) - 1;
    if (open <= 0) relay.clients.delete(addr);
    else relay.clients.set(addr, open);
    relay.sessions--;
    relay.metrics.activeSessions.dec({ listener });
  };
}
