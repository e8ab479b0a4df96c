// Puts a mail straight into a running relay's queue (the same QueueStore.create/commit that SMTP intake
// uses), for delivery tests that need an exact envelope: a given sender (or the null sender), routes.
import type { RunningRelay } from '../relay/main.ts';
import { newQueueId, type Envelope, type EnvelopeRecipient } from '../relay/queue/envelope.ts';

export interface InjectOptions {
  from: string;
  to: string[];
  /** Whole message (headers and body); a default one is built when absent. */
  message?: string;
  subject?: string;
  /** Per-recipient routes; default: relay to the address. */
  routes?: EnvelopeRecipient['route'][];
}

export function testMessage(from: string, to: string[], subject = 'test', body = 'Hello.\r\n'): string {
  return [
    `From: <${from || 'nobody@invalid'}>`,
    `To: ${to.map((t) => `<${t}>`).join(', ')}`,
    `Subject: ${subject}`,
    `Date: ${new Date().toUTCString()}`,
    `Message-ID: <${newQueueId()}@test>`,
    'MIME-Version: 1.0',
    'Content-Type: text/plain; charset=us-ascii',
    '',
    body,
  ].join('\r\n');
}

export async function injectMail(running: RunningRelay, opts: InjectOptions): Promise<string> {
  const env: Envelope = {
    version: 1,
    id: newQueueId(),
    from: opts.from,
    recipients: opts.to.map((address, i) => ({ rcpt: address, route: opts.routes?.[i] ?? { kind: 'relay', address } })),
    listener: 'test',
    client: { address: '127.0.0.1', port: 0, helo: 'test' },
    receivedAt: Date.now(),
  };
  const incoming = running.relay.queue.create(env);
  incoming.stream.write(opts.message ?? testMessage(opts.from, opts.to, opts.subject));
  await incoming.commit();
  return env.id;
}
