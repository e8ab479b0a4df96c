// The delivery agents a relay has, by route kind. Local delivery (mbox, maildir) and LMTP come with the
// rules issue, onward SMTP with the delivery issue; a route kind without an agent stays queued (deferred),
// it is never dropped.
import type { Agents } from '../scheduler/scheduler.ts';
import type { Relay } from '../runtime.ts';
import { smtpAgent } from './smtp/threaded.ts';
import { LocalAgent } from './local/agent.ts';

export function buildAgents(relay: Relay): Agents {
  return {
    relay: smtpAgent(relay),
    local: new LocalAgent(relay),
  };
}
