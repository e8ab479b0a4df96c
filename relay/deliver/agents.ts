// The delivery agents a relay has, by route kind: onward SMTP (`relay`), mbox and Maildir under the mail
// store (`local`), LMTP to a mail store server (`lmtp`). A route kind without an agent stays queued
// (deferred), it is never dropped.
import type { Agents } from '../scheduler/scheduler.ts';
import type { Relay } from '../runtime.ts';
import { smtpAgent } from './smtp/threaded.ts';
import { LocalAgent } from './local/agent.ts';
import { LmtpAgent } from './local/lmtp.ts';

export function buildAgents(relay: Relay): Agents {
  return {
    relay: smtpAgent(relay),
    local: new LocalAgent(relay),
    lmtp: new LmtpAgent(relay),
  };
}
