// The LMTP agent (route kind `lmtp`): hands mail to an LMTP server (RFC 2033; Dovecot's lmtp, Cyrus)
// that stores it. Recipients of one mail going to the same action share one transaction; RCPT TO is the
// resolved mailbox or the final address, as the action's `rcptTo` says. LMTP answers the message once per
// accepted recipient after DATA, and nodemailer's SMTPConnection (`lmtp: true`) reports each refusal, at
// RCPT or after DATA, as a rejected error carrying the recipient and the reply — so the onward agent's
// outcome rules apply unchanged: 2xx delivered, 4xx (or no reply) deferred, 5xx failed.
import { connect as netConnect } from 'node:net';
import { hostname } from 'node:os';
import type { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection';
import type { ActionConfig } from '../../config/schema.ts';
import type { Logger } from '../../ops/log.ts';
import type { QueuedMail } from '../../queue/fs.ts';
import type { DeliveryAgent, DeliveryOutcome } from '../../scheduler/scheduler.ts';
import { phase, type SmtpError } from '../smtp/client.ts';
import { deferAll, outcomesOfError, outcomesOfSuccess, type RcptIndex } from '../smtp/outcome.ts';
import type { LocalHost } from './agent.ts';

type LmtpAction = Extract<ActionConfig, { type: 'lmtp' }>;

/** LMTP's registered port; Dovecot's `inet_listener lmtp` examples use it too. */
const LMTP_PORT = 24;

export class LmtpAgent implements DeliveryAgent {
  readonly name = 'lmtp';
  private readonly host: LocalHost;

  constructor(host: LocalHost) {
    this.host = host;
  }

  async deliver(mail: QueuedMail, indexes: number[], content: () => Readable): Promise<DeliveryOutcome[]> {
    const log = this.host.log.child({ qid: mail.envelope.id, agent: 'lmtp' });
    const outcomes: DeliveryOutcome[] = [];
    const groups = new Map<string, { action: LmtpAction; rcpts: RcptIndex }>();
    for (const index of indexes) {
      const route = mail.envelope.recipients[index].route;
      const action = route.kind === 'lmtp' ? this.host.snapshot.config.actions[route.action] : undefined;
      if (route.kind !== 'lmtp' || action?.type !== 'lmtp') {
        outcomes.push({ index, result: 'deferred', detail: `4.3.5 action ${JSON.stringify(route.action)} is not an lmtp action in this configuration` });
        continue;
      }
      const g = groups.get(route.action) ?? { action, rcpts: new Map() };
      const rcpt = action.rcptTo === 'address' ? route.address : route.mailbox;
      g.rcpts.set(rcpt, [...(g.rcpts.get(rcpt) ?? []), index]);
      groups.set(route.action, g);
    }
    const results = await Promise.all([...groups.values()].map((g) => this.transaction(mail, g.action, g.rcpts, content, log)));
    return [...outcomes, ...results.flat()];
  }

  private async transaction(mail: QueuedMail, action: LmtpAction, rcpts: RcptIndex, content: () => Readable, log: Logger): Promise<DeliveryOutcome[]> {
    const server = action.socket ? `lmtp[${action.socket}]` : `lmtp[${action.host ?? '127.0.0.1'}:${action.port ?? LMTP_PORT}]`;
    const config = this.host.snapshot.config;
    const o = config.outbound;
    let conn: SMTPConnection;
    try {
      conn = await open(action, {
        name: config.hostname ?? hostname(),
        connectionTimeout: o.connectTimeoutSeconds * 1000,
        greetingTimeout: o.greetingTimeoutSeconds * 1000,
        socketTimeout: o.commandTimeoutSeconds * 1000,
      });
    } catch (err) {
      log.info({ server, err: (err as Error).message }, 'LMTP connection failed');
      return deferAll(rcpts, `4.4.1 ${server}: ${(err as Error).message}`);
    }
    try {
      const envelope = { from: mail.envelope.from, to: [...rcpts.keys()], size: mail.size, use8BitMime: mail.envelope.body === '8bitmime' };
      const info = await new Promise<SMTPConnection.SentMessageInfo>((resolve, reject) => conn.send(envelope, content(), (err, i) => (err ? reject(err) : resolve(i))));
      log.debug({ server, rcpts: envelope.to.length, refused: info.rejectedErrors?.length ?? 0 }, 'LMTP transaction done');
      return outcomesOfSuccess(rcpts, info, server);
    } catch (err) {
      return outcomesOfError(rcpts, err as SmtpError, server);
    } finally {
      try {
        conn.quit();
      } catch {
        conn.close();
      }
    }
  }
}

interface Timeouts {
  name: string;
  connectionTimeout: number;
  greetingTimeout: number;
  socketTimeout: number;
}

/**
 * Connects and says LHLO. A Unix socket is opened here and handed over (nodemailer connects by host and
 * port only). No STARTTLS: LMTP is a hop inside the deployment, by prior arrangement (RFC 2033).
 */
async function open(action: LmtpAction, t: Timeouts): Promise<SMTPConnection> {
  const options: SMTPConnection.Options & { lmtp: true } = { ...t, lmtp: true, ignoreTLS: true, logger: false };
  if (action.socket) {
    const socket = netConnect({ path: action.socket });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => socket.destroy(new Error('connection timed out')), t.connectionTimeout);
      socket.once('connect', () => (clearTimeout(timer), resolve()));
      socket.once('error', (err) => (clearTimeout(timer), reject(err)));
    });
    options.connection = socket;
  } else {
    options.host = action.host ?? '127.0.0.1';
    options.port = action.port ?? LMTP_PORT;
  }
  const conn = new SMTPConnection(options);
  conn.on('error', () => {}); // errors reach the pending callback; after the transaction, nothing waits
  // a failing connect may only emit 'error' or 'end': phase() settles on either, as for onward SMTP
  await phase(conn, (done) => conn.connect(done));
  return conn;
}
