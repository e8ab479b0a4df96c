// Bounces: when recipients fail for good (5xx or queue lifetime), one DSN goes to the sender, listing
// every recipient that failed in that attempt; optionally a "delayed" DSN once a mail waits too long.
// Never for the null sender: a DSN is sent with MAIL FROM:<>, so a DSN that fails is dropped (logged),
// and bounces cannot loop. The DSN is queued (durably) before the failure is recorded, so a crash in
// between sends it twice rather than never.
import type { QueuedMail } from '../queue/fs.ts';
import { newQueueId, type Envelope, type RecipientRoute } from '../queue/envelope.ts';
import type { Relay } from '../runtime.ts';
import type { DelayHandler, FailureHandler } from '../scheduler/scheduler.ts';
import { composeDsn, type DsnInput } from './dsn.ts';
import { readHeaderBlock } from './headers.ts';

/** The route to the sender: what the rules say for a local sender, else onward SMTP. */
async function routeToSender(relay: Relay, sender: string): Promise<RecipientRoute[]> {
  try {
    const d = await relay.snapshot.policy.decide({ listener: 'bounce', clientAddress: '127.0.0.1', from: '' }, sender);
    if (d.kind === 'accept' && d.route.length) return d.route;
  } catch {
    // a policy that fails (a table unreadable) must not stop the bounce
  }
  return [{ kind: 'relay', address: sender }];
}

async function queueDsn(relay: Relay, mail: QueuedMail, kind: DsnInput['kind'], indexes: number[]): Promise<string> {
  const env = mail.envelope;
  const hostname = relay.snapshot.config.hostname ?? 'localhost';
  const originalHeaders = await readHeaderBlock(relay.queue.content(mail));
  const { text } = composeDsn({
    kind,
    reportingMta: hostname,
    queueId: env.id,
    sender: env.from,
    arrivalDate: env.receivedAt,
    originalHeaders,
    willRetryUntil: env.receivedAt + relay.snapshot.config.outbound.queueLifetimeSeconds * 1000,
    recipients: indexes.map((i) => {
      const r = env.recipients[i];
      const s = mail.state.recipients[i];
      return { final: r.route.address, original: r.rcpt, detail: s.lastError ?? 'unknown error', lastAttemptAt: Date.now() };
    }),
  });
  const dsn: Envelope = {
    version: 1,
    id: newQueueId(),
    from: '',
    recipients: (await routeToSender(relay, env.from)).map((route) => ({ rcpt: env.from, route })),
    listener: 'bounce',
    client: { address: '127.0.0.1', port: 0, helo: hostname },
    receivedAt: Date.now(),
    body: '8bitmime',
  };
  const incoming = relay.queue.create(dsn);
  try {
    incoming.stream.write(text);
    await incoming.commit();
  } catch (err) {
    await incoming.abort();
    throw err;
  }
  return dsn.id;
}

export function bounceHandlers(relay: Relay): { onFailures: FailureHandler; onDelayed: DelayHandler } {
  const send = (kind: DsnInput['kind']) => async (mail: QueuedMail, indexes: number[]) => {
    const log = relay.log.child({ qid: mail.envelope.id });
    if (mail.envelope.from === '') {
      log.info({ rcpts: indexes.length, kind }, 'no DSN: the mail has the null sender (a bounce itself)');
      return;
    }
    const dsnId = await queueDsn(relay, mail, kind, indexes);
    log.info({ dsn: dsnId, to: mail.envelope.from, rcpts: indexes.length, kind }, kind === 'failed' ? 'bounce queued' : 'delay warning queued');
  };
  return { onFailures: send('failed'), onDelayed: send('delayed') };
}
